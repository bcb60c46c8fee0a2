"""The connection core in-process, over ``socket.socketpair()`` (see tests/core.py).

No server process, no monkey-patching: a WebSocket built as the handler
builds one, a websockets client protocol on the other end, and a census of
greenlets, file descriptors, libev watchers and registry entries after
each fault.
"""

from __future__ import annotations

import logging
import socket
import time

import gevent
import pytest
from django.db import OperationalError

from django_ws.connection import ConnectionClosed, WebSocket
from tests.conftest import TIMEOUT, UNIT
from tests.core import (
    Peer,
    assert_nothing_left,
    census,
    ended_connections,
    make_websocket,
    serve_view,
    socket_pair,
)


@pytest.fixture
def before():
    """The census before the test; checked once the test's connections ended."""
    ended_connections.clear()
    return census()


def connection(**options):
    server, client = socket_pair()
    return make_websocket(server, **options), server, Peer(client)


class Handler:
    """A MessageHandler recording what it is called with."""

    def __init__(self, websocket: WebSocket, *, fail_on_message=False, fail_on_close=False):
        self.websocket = websocket
        self.messages = []
        self.closed = 0
        self.fail_on_message = fail_on_message
        self.fail_on_close = fail_on_close

    def on_message(self, message):
        self.messages.append(message)
        if self.fail_on_message:
            raise RuntimeError("on_message failed")
        self.websocket.send(message)

    def on_close(self):
        self.closed += 1
        if self.fail_on_close:
            raise RuntimeError("on_close failed")


def database_gone():
    raise OperationalError("server closed the connection unexpectedly")


# -- the faults of issue 13 ------------------------------------------------------


def test_a_failing_idle_hook_after_a_burst_ends_the_detached_connection(before, caplog):
    # The hook that releases database connections after each burst raises (the
    # database went away): the connection must still end, on_close run once,
    # its registry entry and file descriptor go, its log line be written.
    websocket, sock, peer = connection()
    handler = Handler(websocket)

    def view(ws):
        ws.on_idle(database_gone)
        ws.detach(handler)

    serve_view(websocket, sock, view)
    peer.send_text("hello")
    assert peer.recv() == "hello"
    assert peer.recv_close() == (1011, "")
    peer.close()
    assert_nothing_left(before)
    assert handler.closed == 1
    assert ended_connections == [websocket]
    assert "server closed the connection unexpectedly" in caplog.text
    assert "/core/" in caplog.text


@pytest.mark.parametrize("detached", [False, True], ids=["function", "detached"])
def test_a_peer_gone_before_the_101_is_no_error_in_the_view(before, detached):
    # The docs promise a peer's failure never reaches the view: accept() with
    # the peer already gone must leave a whole, closed connection.
    websocket, sock, peer = connection()
    peer.close()
    handler = Handler(websocket)
    seen = []

    def view(ws):
        ws.accept()
        if detached:
            ws.detach(handler)
            return
        seen.append(ws.wait(timeout=TIMEOUT))
        seen.append(list(ws))
        with pytest.raises(ConnectionClosed):
            ws.send("too late")

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)  # re-raises what the view raised
    assert websocket.closed and websocket.close_code == 1006
    assert seen == ([] if detached else [None, []])
    assert_nothing_left(before)
    assert handler.closed == (1 if detached else 0)


def test_close_waits_no_longer_than_the_close_timeout(before):
    # A client that sends a frame every 0.9 close timeouts and never answers
    # the close: close() must still return after about one close timeout.
    websocket, sock, peer = connection(close_timeout=UNIT)
    peer.answer = False
    elapsed = []

    def chatter():
        try:
            while True:
                gevent.sleep(0.9 * UNIT)
                peer.send_ping(b"still here")
        except OSError:
            pass

    def view(ws):
        ws.accept()
        talker = gevent.spawn(chatter)
        start = time.monotonic()
        ws.close()
        elapsed.append(time.monotonic() - start)
        talker.kill()

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    peer.close()
    assert UNIT * 0.9 <= elapsed[0] < UNIT * 1.5
    assert_nothing_left(before)


@pytest.mark.parametrize("detached", [False, True], ids=["function", "detached"])
def test_finish_runs_to_the_end_when_leaving_a_group_fails(before, detached, caplog, settings):
    # A Redis error while leaving the groups must not leave timers, greenlets
    # or the registry entry behind, nor lose the log line or on_close.
    from tests.core import FAILING_GROUPS

    settings.WEBSOCKET_GROUPS = FAILING_GROUPS
    websocket, sock, peer = connection()
    handler = Handler(websocket)

    def view(ws):
        ws.join("room")
        if detached:
            ws.detach(handler)
            ws.close()

    served = serve_view(websocket, sock, view)
    assert peer.recv_close() == (1000, "")
    served.get(timeout=TIMEOUT)
    peer.close()
    assert_nothing_left(before)
    assert "Connection refused" in caplog.text and "/core/" in caplog.text
    if detached:
        assert handler.closed == 1
        assert ended_connections == [websocket]


def test_close_is_not_blocked_by_a_stuck_send(before):
    # WEBSOCKET_SEND_TIMEOUT = None and a client that reads nothing: the
    # stuck send holds the write lock; close() waits for it at most its
    # close timeout, then drops the connection, which frees the sender.
    websocket, sock, peer = connection(send_timeout=None, close_timeout=UNIT)
    outcome = []

    def view(ws):
        ws.accept()

        def stuck():
            try:
                ws.send(b"x" * (16 * 1024 * 1024))
            except ConnectionClosed:
                outcome.append("sender freed")

        sender = gevent.spawn(stuck)
        gevent.sleep(0.1 * UNIT)
        assert not sender.dead  # it waits for the client to read
        with gevent.Timeout(5 * UNIT, AssertionError("close() stayed blocked")):
            ws.close()
        sender.join(TIMEOUT)

    serve_view(websocket, sock, view).get(timeout=TIMEOUT * 2)
    peer.close()
    assert outcome == ["sender freed"]
    assert_nothing_left(before)


def test_the_keepalive_ends_a_connection_stuck_in_a_send(before):
    # The same stuck send, and nobody closes: the unanswered ping fails the
    # connection within ping interval + ping timeout + close timeout.
    websocket, sock, peer = connection(send_timeout=None, close_timeout=UNIT,
                                       ping_interval=0.2 * UNIT, ping_timeout=0.2 * UNIT)
    outcome = []

    def view(ws):
        try:
            ws.send(b"x" * (16 * 1024 * 1024))
        except ConnectionClosed:
            outcome.append("sender freed")

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    peer.close()
    assert outcome == ["sender freed"]
    assert_nothing_left(before)


@pytest.mark.parametrize("fault, cause", [
    ("reset", "ConnectionResetError: [Errno 104] Connection reset by peer"),
    ("eof", "the client closed TCP without a close frame"),
    ("silent", "no close frame from the client within"),
])
def test_the_cause_of_an_abnormal_close_is_logged(before, caplog, fault, cause):
    caplog.set_level(logging.INFO, logger="django_ws")
    websocket, sock, peer = connection(close_timeout=0.2 * UNIT)

    def view(ws):
        ws.send("never read")
        if fault == "reset":
            peer.close()  # a Unix socket closed with unread data resets the connection
        elif fault == "eof":
            peer.read_head()
            peer.recv()
            peer.sock.shutdown(socket.SHUT_WR)
        else:
            ws.close()  # the peer never answers
            return
        assert ws.wait(timeout=TIMEOUT) is None

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    peer.close()
    assert websocket.close_code == (1000 if fault == "silent" else 1006)
    assert_nothing_left(before)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("django_ws")]
    assert any(line.startswith("WebSocket /core/ from - lost: " + cause) for line in lines), lines
