"""The per-connection message rate limit, in-process over a socketpair.

No test measures how long a wait took (a speed belongs in bench/): the
throttle is seen in the connection's state (the time its next read may
happen, the timer a detached connection waits on), and what the client
sent arrives whole, in order, once it is over. Counts are exact.
"""

from __future__ import annotations

import gevent
import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_ws.conf import settings as ws_settings
from django_ws.decorators import accept_websocket
from tests.support.core import (
    assert_nothing_left,
    connection,
    ended_connections,
    serve_view,
)
from tests.support.timing import TIMEOUT, UNIT


def test_past_the_rate_the_next_read_waits_and_nothing_is_lost(before):
    # Burst 3, then 1 per unit: after 6 at once the client owes 3 messages,
    # 3 units, before the server reads again.
    websocket, sock, peer = connection(message_rate=1 / UNIT, message_burst=3)
    received = []

    def view(ws):
        for message in ws:
            received.append(message)
            ws.send(message)

    served = serve_view(websocket, sock, view)
    for i in range(6):
        peer.send_text(f"m{i}")
    assert [peer.recv() for _ in range(6)] == [f"m{i}" for i in range(6)]
    # The client owes messages: the next read was put off (read from the
    # bucket, not timed).
    assert websocket._reader.rate.tokens < 0, "no wait before the next read"
    peer.send_text("later")
    assert peer.recv() == "later"
    assert received == [f"m{i}" for i in range(6)] + ["later"]
    peer.send_close()
    assert peer.recv_close() == (1000, "")
    served.get(timeout=TIMEOUT)
    peer.close()
    assert_nothing_left(before)


def test_with_rate_limit_close_the_view_gets_the_burst_then_1008(before):
    websocket, sock, peer = connection(message_rate=1 / UNIT, message_burst=3,
                                       rate_limit_close=True)
    received = []

    def view(ws):
        received.extend(ws)

    served = serve_view(websocket, sock, view)
    for i in range(10):
        peer.send_text(f"m{i}")
    code, reason = peer.recv_close()
    assert code == 1008
    assert "WEBSOCKET_MESSAGE_RATE" in reason
    peer.close()  # the server failed the connection: it waits for the client's end of TCP
    served.get(timeout=TIMEOUT)
    assert received == ["m0", "m1", "m2"]
    assert_nothing_left(before)


def test_a_throttled_detached_connection_waits_on_a_timer_and_ends_clean(before):
    # Burst 2, then 1 per unit: after 5 at once the client owes 3 units.
    websocket, sock, peer = connection(message_rate=1 / UNIT, message_burst=2)
    messages = []

    class Handler:
        def on_message(self, message):
            messages.append(message)
            websocket.send(message)

        def on_close(self):
            messages.append("closed")

    serve_view(websocket, sock, lambda ws: ws.detach(Handler()))
    for i in range(5):
        peer.send_text(f"m{i}")
    assert [peer.recv() for _ in range(5)] == [f"m{i}" for i in range(5)]
    # Not watching the socket: a timer restarts the reading once it is over.
    assert websocket._reader.rate.waiting
    peer.send_text("later")
    assert peer.recv() == "later"
    peer.send_close()
    assert peer.recv_close() == (1000, "")
    peer.close()
    assert_nothing_left(before)
    assert messages == [f"m{i}" for i in range(5)] + ["later", "closed"]
    assert ended_connections == [websocket]


def test_closing_a_throttled_connection_is_not_held_up_by_the_throttle(before):
    # Owing 9 messages at 0.1 per unit is 90 units of throttle; the server's
    # close must still end within about one close timeout.
    websocket, sock, peer = connection(message_rate=0.1 / UNIT, message_burst=1,
                                       close_timeout=TIMEOUT)
    got = []

    def view(ws):
        got.append(ws.wait())
        gevent.sleep(0.2 * UNIT)  # busy: its background reader now waits out the throttle
        ws.close(1000, "bye")

    served = serve_view(websocket, sock, view)
    for i in range(10):
        peer.send_text(f"m{i}")
    gevent.sleep(0.05 * UNIT)
    peer.send_text("after")
    assert peer.recv_close() == (1000, "bye")  # the peer answers it
    served.get(timeout=TIMEOUT)
    assert got == ["m0"]
    peer.close()
    assert_nothing_left(before)


def test_a_view_waiting_with_a_timeout_past_the_throttle_gets_timeouterror(before):
    websocket, sock, peer = connection(message_rate=0.1 / UNIT, message_burst=1)
    outcome = []

    def view(ws):
        outcome.append(ws.wait())
        outcome.append(ws.wait())  # m1, after which the client owes 10 units
        try:
            ws.wait(timeout=0.2 * UNIT)
        except TimeoutError:
            outcome.append("timeout")

    served = serve_view(websocket, sock, view)
    peer.send_text("m0")
    peer.send_text("m1")
    gevent.sleep(0.1 * UNIT)
    peer.send_text("m2")
    assert peer.recv_close() == (1000, "")  # the view returned; the peer answers
    served.get(timeout=TIMEOUT)
    assert outcome == ["m0", "m1", "timeout"]
    peer.close()
    assert_nothing_left(before)


def test_the_limit_is_a_per_view_option():
    @accept_websocket(message_rate=5, message_burst=10, rate_limit_close=True)
    def view(request):  # pragma: no cover - never called
        pass

    assert ws_settings.connection_options().message_rate is None  # off by default


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("WEBSOCKET_MESSAGE_RATE", 0, "django_ws.E002"),
        ("WEBSOCKET_MESSAGE_RATE", "fast", "django_ws.E002"),
        ("WEBSOCKET_MESSAGE_BURST", 2.5, "django_ws.E002"),
        ("WEBSOCKET_RATE_LIMIT_CLOSE", "yes", "django_ws.E015"),
    ],
)
def test_a_bad_rate_limit_setting_fails_the_check_naming_it(name, value, check_id):
    with override_settings(**{name: value}):
        errors = [e for e in run_checks() if e.id == check_id]
    assert errors and name in errors[0].msg


@override_settings(WEBSOCKET_MESSAGE_RATE=50, WEBSOCKET_MESSAGE_BURST=100,
                   WEBSOCKET_RATE_LIMIT_CLOSE=True)
def test_the_settings_reach_every_connection():
    options = ws_settings.connection_options()
    assert (options.message_rate, options.message_burst, options.rate_limit_close) == (
        50, 100, True)
    assert not [e for e in run_checks() if e.id.startswith("django_ws.E")]
