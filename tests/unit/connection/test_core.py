"""The connection core in-process, over ``socket.socketpair()`` (see tests/support/core.py).

No server process, no monkey-patching: a WebSocket built as the handler
builds one, a websockets client protocol on the other end, and a census of
greenlets, file descriptors, libev watchers and registry entries after
each fault.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time

import gevent
import pytest
from django.db import OperationalError
from websockets.frames import Opcode

from django_ws.connection import ConnectionClosed, WebSocket
from django_ws.connection.holding import HOLD_FOR as _HOLD_FOR
from django_ws.connection.reading import BUSY_AFTER as _BUSY_AFTER
from django_ws.exceptions import WebSocketUsageError
from tests.support.clients import client_frame
from tests.support.core import (
    assert_nothing_left,
    connection,
    ended_connections,
    serve_until_closed,
    serve_view,
    wait_until,
)
from tests.support.timing import TIMEOUT, UNIT


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


def test_close_waits_no_longer_than_the_close_timeout(before, caplog):
    # A client that sends a frame every 0.9 close timeouts and never answers
    # the close: close() must still return, dropped for the close timeout. A
    # wait that each frame restarted would never end (the bounded get fails).
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
    assert elapsed[0] >= UNIT * 0.9  # it did wait (timers never fire early)
    assert "no close frame from the client within" in caplog.text
    assert_nothing_left(before)


@pytest.mark.parametrize("detached", [False, True], ids=["function", "detached"])
def test_finish_runs_to_the_end_when_leaving_a_group_fails(before, detached, caplog, settings):
    # A Redis error while leaving the groups must not leave timers, greenlets
    # or the registry entry behind, nor lose the log line or on_close.
    from tests.support.core import FAILING_GROUPS

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


# -- the inbox and the reading modes ---------------------------------------------


def test_messages_come_in_order_through_every_reading_call(before):
    websocket, sock, peer = connection()
    got = []

    def view(ws):
        ws.accept()
        for n in range(4):
            peer.send_text(f"m{n}")
        peer.send_binary(b"\x00\xff")
        got.append(ws.wait(timeout=TIMEOUT))  # str for text frames
        wait_until(lambda: ws.count_messages() == 4)  # drains what arrived, never blocks
        got.append(ws.read())
        assert ws.has_messages()
        got.append(next(iter(ws)))
        got.append(ws.wait(timeout=TIMEOUT))
        got.append(ws.read())  # bytes for binary frames
        assert ws.read() is None and not ws.has_messages()
        with pytest.raises(TimeoutError):
            ws.wait(timeout=0.05 * UNIT)
        assert not ws.closed  # a timeout is not a close

    served = serve_view(websocket, sock, view)
    assert peer.recv_close() == (1000, "")
    served.get(timeout=TIMEOUT)
    peer.close()
    assert got == ["m0", "m1", "m2", "m3", b"\x00\xff"]
    assert (websocket.messages_in, websocket.messages_out) == (5, 0)
    assert_nothing_left(before)


def test_the_background_reader_takes_over_and_hands_back(before):
    # Away from wait() for longer than _BUSY_AFTER, the view gets a reader
    # greenlet: it answers pings and queues messages; when the view waits
    # again, the reader gives the socket back after the read it is in.
    websocket, sock, peer = connection()

    def view(ws):
        ws.accept()
        gevent.sleep(_BUSY_AFTER * 4)  # busy: a query, a sleep
        peer.send_ping(b"are you there")
        frame = peer.recv_frame()
        assert (frame.opcode, frame.data) == (Opcode.PONG, b"are you there")
        peer.send_text("queued meanwhile")
        wait_until(lambda: len(ws._inbox) == 1)  # read without the view
        assert ws._reader.background
        assert ws.wait(timeout=TIMEOUT) == "queued meanwhile"
        peer.send_text("handed over")
        assert ws.wait(timeout=TIMEOUT) == "handed over"
        assert not ws._reader.background  # the view reads inline again
        peer.send_text("inline")
        assert ws.wait(timeout=TIMEOUT) == "inline"

    assert serve_until_closed(websocket, sock, peer, view) == (1000, "")
    peer.close()
    assert_nothing_left(before)


@pytest.mark.parametrize(("limits", "payload", "queued"), [
    # WEBSOCKET_MAX_QUEUE: two messages.
    ({"max_queue": 2}, "x" * 1024, 2),
    # WEBSOCKET_MAX_QUEUE_BYTES: 64 messages of 1 MiB were 64 MiB a connection
    # for a view that is not reading; now the reader stops at the byte bound.
    ({"max_queue": 64, "max_queue_bytes": 10_000}, "x" * 4000, 3),
], ids=["messages", "bytes"])
def test_a_full_queue_stops_reading_until_the_view_reads(before, limits, payload, queued):
    # The reader stops reading when the queue is full, and TCP's window
    # closes on the client (here: its sendall blocks).
    websocket, sock, peer = connection(**limits)
    count = 2 * 1024 * 1024 // len(payload) + 1  # more than the socket buffers hold

    def view(ws):
        ws.accept()
        sender = gevent.spawn(lambda: [peer.send_text(payload) for _ in range(count)])
        queue = ws._inbox
        # The view is busy: its reader reads until the queue is full, then
        # waits in put() (its event cleared).
        wait_until(lambda: queue._writable is not None and not queue._writable.is_set())
        assert ws.count_messages() == queued
        assert not sender.dead  # paused by backpressure
        assert [ws.wait(timeout=TIMEOUT) for _ in range(count)] == [payload] * count
        sender.get(timeout=TIMEOUT)  # resumed

    assert serve_until_closed(websocket, sock, peer, view) == (1000, "")
    peer.close()
    assert_nothing_left(before)


def test_one_message_larger_than_the_byte_bound_still_arrives(before):
    websocket, sock, peer = connection(max_queue_bytes=100)

    def view(ws):
        ws.accept()
        peer.send_binary(b"y" * 50_000)
        peer.send_binary(b"z" * 50_000)
        assert ws.wait(timeout=TIMEOUT) == b"y" * 50_000
        assert ws.wait(timeout=TIMEOUT) == b"z" * 50_000

    assert serve_until_closed(websocket, sock, peer, view) == (1000, "")
    peer.close()
    assert_nothing_left(before)


# -- writing ---------------------------------------------------------------------


def test_large_messages_to_a_slow_reader_arrive_whole_and_in_order(before):
    # Partial writes: the kernel takes part of a frame; the rest follows
    # before any other frame, whichever greenlet sends it.
    websocket, sock, peer = connection()
    big = [bytes([n]) * (1024 * 1024 + n) for n in range(3)]

    def view(ws):
        senders = [gevent.spawn(ws.send, data) for data in big]
        gevent.sleep(0)  # they start: the first one waits for the client mid-frame
        ws.send("small, after the first three")
        gevent.joinall(senders, raise_error=True)

    served = serve_view(websocket, sock, view)
    received = []
    while (message := peer.recv()) is not None:
        received.append(message)
        gevent.sleep(0.01 * UNIT)  # a slow reader
    served.get(timeout=TIMEOUT)
    peer.close()
    assert sorted(received[:3], key=len) == big  # each whole, never interleaved
    assert received[3:] == ["small, after the first three"]
    assert_nothing_left(before)


def test_a_send_the_client_does_not_read_times_out_and_drops_it(before):
    websocket, sock, peer = connection(send_timeout=0.2 * UNIT)

    def view(ws):
        with pytest.raises(TimeoutError, match="WEBSOCKET_SEND_TIMEOUT"):
            ws.send(b"x" * (16 * 1024 * 1024))
        assert ws.closed and ws.close_code == 1006
        with pytest.raises(ConnectionClosed):
            ws.send("again")
        assert ws.wait(timeout=TIMEOUT) is None

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    peer.close()
    assert_nothing_left(before)


# -- closing and keepalive -------------------------------------------------------


def test_close_returns_once_the_client_answers(before):
    websocket, sock, peer = connection(close_timeout=100 * UNIT)

    def view(ws):
        ws.accept()
        answering = gevent.spawn(peer.recv_close)
        with gevent.Timeout(TIMEOUT, AssertionError("close() waited for the close timeout")):
            ws.close(4000, "bye")
        assert answering.get(timeout=TIMEOUT) == (4000, "bye")
        assert (ws.close_code, ws.close_reason, ws.closed_by_client) == (4000, "bye", False)
        ws.close()  # a no-op once closed

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    peer.close()
    assert_nothing_left(before)


def test_a_silent_client_is_dropped_after_the_close_timeout(before, caplog):
    websocket, sock, peer = connection(close_timeout=0.5 * UNIT)
    elapsed = []

    def view(ws):
        ws.accept()
        start = time.monotonic()
        ws.close()
        elapsed.append(time.monotonic() - start)

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    peer.close()
    assert elapsed[0] >= 0.45 * UNIT  # it did wait (timers never fire early)
    assert "no close frame from the client within" in caplog.text
    assert_nothing_left(before)


@pytest.mark.parametrize("answer", [True, False], ids=["pongs", "no pongs"])
def test_keepalive_keeps_a_client_that_answers_and_drops_one_that_does_not(before, answer):
    # The client sends no data at all: only its pongs can keep it open.
    websocket, sock, peer = connection(ping_interval=0.1 * UNIT, ping_timeout=0.1 * UNIT)
    peer.answer = answer
    frames = []

    def listen():
        while (frame := peer.recv_frame()) is not None:
            frames.append(frame)

    def view(ws):
        if answer:
            with pytest.raises(TimeoutError):
                ws.wait(timeout=1.0 * UNIT)  # ten ping intervals
            assert not ws.closed
        else:
            assert ws.wait(timeout=TIMEOUT) is None
            assert (ws.close_code, ws.close_reason) == (1011, "keepalive ping timeout")

    listener = gevent.spawn(listen)
    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    listener.join(TIMEOUT)
    peer.close()
    pings = [frame for frame in frames if frame.opcode is Opcode.PING]
    assert len(pings) >= (3 if answer else 1)
    assert frames[-1].opcode is Opcode.CLOSE
    assert_nothing_left(before)


# -- misuse ----------------------------------------------------------------------


def test_misuse_raises_at_once(before):
    websocket, sock, peer = connection(offer="chat, mqtt", subprotocols=["mqtt"])
    answering = gevent.spawn(peer.recv_close)

    def view(ws):
        assert ws.subprotocols == ["chat", "mqtt"] and ws.subprotocol == "mqtt"
        with pytest.raises(WebSocketUsageError, match="'stomp' was not offered"):
            ws.accept("stomp")
        ws.accept()
        with pytest.raises(WebSocketUsageError, match="before the connection is accepted"):
            ws.configure(max_queue=1)
        with pytest.raises(WebSocketUsageError, match="cannot switch to 'chat'"):
            ws.accept("chat")
        ws.accept("mqtt")  # the same: a no-op
        with pytest.raises(TypeError, match="cannot send 'int'"):
            ws.send(42)
        ws.close()
        with pytest.raises(ConnectionClosed) as closed:
            ws.send("after the close")
        assert closed.value.code == 1000
        assert ws.wait() is None and ws.read() is None and list(ws) == []

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    assert answering.get(timeout=TIMEOUT) == (1000, "")
    assert "Sec-WebSocket-Protocol: mqtt" in peer.head.decode()
    peer.close()
    assert_nothing_left(before)


# -- a dead peer at each step ----------------------------------------------------


@pytest.mark.parametrize("step", ["wait", "send", "close", "detached idle", "detached burst"])
def test_a_peer_that_vanishes_ends_the_connection_cleanly(before, step):
    websocket, sock, peer = connection(close_timeout=100 * UNIT)
    handler = Handler(websocket)

    def vanish():
        peer.read_head()
        peer.close()

    def view(ws):
        ws.accept()
        if step == "wait":
            gevent.spawn_later(0.05 * UNIT, vanish)
            assert ws.wait(timeout=TIMEOUT) is None
        elif step == "send":
            vanish()
            with pytest.raises(ConnectionClosed):
                for _ in range(100):  # the first sends may still fit in a buffer
                    ws.send(b"x" * 65536)
        elif step == "close":
            vanish()
            ws.close()  # no error, and no wait for the close timeout
        else:
            ws.detach(handler)
            if step == "detached burst":
                peer.send_text("echo this")  # on_message's send finds the peer gone
            gevent.spawn_later(0.05 * UNIT, vanish)

    serve_view(websocket, sock, view).get(timeout=TIMEOUT)
    assert_nothing_left(before)
    assert websocket.closed
    assert handler.closed == (1 if step.startswith("detached") else 0)


# -- faults in the hooks and the handler -----------------------------------------


def test_a_database_error_before_the_view_blocks_is_the_views_error(before):
    # The idle hook runs in the view's greenlet, inside wait(): its error is
    # the view's own, and the connection closes with 1011 as for any error.
    websocket, sock, peer = connection()

    def view(ws):
        ws.on_idle(database_gone)
        ws.wait(timeout=TIMEOUT)

    served = serve_view(websocket, sock, view)
    assert peer.recv_close() == (1011, "")
    with pytest.raises(OperationalError):
        served.get(timeout=TIMEOUT)
    peer.close()
    assert_nothing_left(before)


def test_a_database_error_at_the_end_of_a_detached_connection(before, caplog):
    # The hook runs after each burst and once more after on_close; the last
    # time it fails, and everything is released all the same.
    websocket, sock, peer = connection()
    handler = Handler(websocket)

    def release():
        if handler.closed:
            database_gone()

    def view(ws):
        ws.on_idle(release)
        ws.detach(handler)

    serve_view(websocket, sock, view)
    peer.send_text("hello")
    assert peer.recv() == "hello"
    peer.send_close()
    assert peer.recv_close() == (1000, "")
    peer.close()
    assert_nothing_left(before)
    assert handler.closed == 1 and ended_connections == [websocket]
    assert "error in the idle hook of WebSocket /core/" in caplog.text


@pytest.mark.parametrize("fault", ["on_message", "on_close"])
def test_an_exception_in_a_handler_callback(before, caplog, fault):
    websocket, sock, peer = connection()
    handler = Handler(websocket, fail_on_message=fault == "on_message",
                      fail_on_close=fault == "on_close")
    serve_view(websocket, sock, lambda ws: ws.detach(handler))
    peer.send_text("hello")
    if fault == "on_message":
        assert peer.recv_close() == (1011, "")  # closed with 1011, logged
    else:
        assert peer.recv() == "hello"
        peer.send_close()
        assert peer.recv_close() == (1000, "")
    peer.close()
    assert_nothing_left(before)
    assert handler.closed == 1 and ended_connections == [websocket]
    assert f"error in {fault} of WebSocket /core/" in caplog.text


# -- the valid messages before a client's error (Autobahn strict) ----------------


@pytest.mark.parametrize("detached", [False, True], ids=["function", "detached"])
def test_messages_before_a_protocol_error_are_answered_before_the_close(before, detached,
                                                                         caplog):
    # Autobahn 3.2: a valid message, then a frame with a reserved bit set, in
    # one read. The view gets the message, its answer goes out, then the
    # close frame with 1002 (RFC 6455 5.2, 7.1.7).
    websocket, sock, peer = connection()
    handler = Handler(websocket)

    def view(ws):
        if detached:
            ws.detach(handler)
            return
        for message in ws:
            ws.send(message)

    served = serve_view(websocket, sock, view)
    peer.read_head()
    peer.sock.sendall(client_frame(1, b"valid") + client_frame(1, b"bad", rsv1=True)
                      + client_frame(9, b"ignored"))
    assert peer.recv() == "valid"
    assert peer.recv_close() == (1002, "reserved bits must be 0")
    peer.close()  # the server closed TCP first; the client's end ends the wait
    served.get(timeout=TIMEOUT)
    assert_nothing_left(before)
    assert websocket.messages_out == 1
    assert handler.closed == (1 if detached else 0)
    assert "lost" not in caplog.text  # the client's EOF after our close is no fault


def test_the_held_close_goes_after_a_short_deadline_if_the_view_is_busy(before):
    websocket, sock, peer = connection()
    seen = []

    def view(ws):
        ws.accept()
        gevent.sleep(_HOLD_FOR * 2)  # busy: the reader queues the message
        seen.append(ws.wait(timeout=TIMEOUT))
        seen.append(ws.wait(timeout=TIMEOUT))

    served = serve_view(websocket, sock, view)
    peer.read_head()
    peer.sock.sendall(client_frame(1, b"valid") + client_frame(1, b"bad", rsv1=True))
    assert peer.recv_close() == (1002, "reserved bits must be 0")  # before the view woke
    assert not served.dead
    peer.close()
    served.get(timeout=TIMEOUT)
    assert seen == ["valid", None]
    assert_nothing_left(before)


def test_cleanups_run_once_each_even_when_one_raises(before, caplog):
    websocket, sock, peer = connection()
    calls = []

    def failing(ws):
        calls.append(("failing", ws))
        raise RuntimeError("cleanup failed")

    def view(ws):
        with pytest.raises(WebSocketUsageError):
            ws.add_cleanup(failing)  # before the 101: finish() would never run it
        ws.accept()
        ws.add_cleanup(lambda ws: calls.append(("first", ws)))
        ws.add_cleanup(failing)
        ws.add_cleanup(lambda ws: calls.append(("last", ws)))

    assert serve_until_closed(websocket, sock, peer, view) == (1000, "")
    peer.close()
    assert calls == [("first", websocket), ("failing", websocket), ("last", websocket)]
    assert "cleanup failed" in caplog.text and "/core/" in caplog.text
    websocket.finish(failed=False)  # a second finish runs nothing again
    assert len(calls) == 3
    assert_nothing_left(before)


# -- one loop, shared fairly (issue 21) ------------------------------------------


def flood_from_a_thread(sock, data: bytes, stop) -> threading.Thread:
    """Write ``data`` to ``sock`` from a real OS thread, as a client process would.

    A greenlet could not flood: it needs the loop the reader holds. The thread
    writes whenever the socket takes more (stdlib select: this process is not
    monkey-patched), so the reader always finds data waiting.
    """
    fd = sock.fileno()

    def run() -> None:
        view = memoryview(data)
        while view and not stop.is_set():
            select.select([], [fd], [], 0.1)
            try:
                view = view[os.write(fd, view[:262144]):]
            except BlockingIOError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


FLOODS = {
    # Frames that make no message (the budgets off: the read path alone).
    "empty fragments": client_frame(2, b"", fin=False) + client_frame(0, b"", fin=False) * 500_000,
    # One read queues thousands of messages for the view.
    "tiny messages": client_frame(2, b"x") * 400_000,
}


class Swallow:
    """A detached handler that takes every message and does nothing."""

    def on_message(self, message):
        pass

    def on_close(self):
        pass


@pytest.mark.parametrize("detached", [False, True], ids=["function", "detached"])
@pytest.mark.parametrize("flood", FLOODS)
def test_a_flooding_client_cannot_keep_the_loop_from_another_connection(before, flood,
                                                                         detached):
    """The other connection's echo comes back while the flood is still being
    read: the flooded reader went through the event loop, however fast the
    data came. Without that, the echo waits until the flood ends."""
    import threading

    data = FLOODS[flood]
    flooded, flooded_sock, flooded_peer = connection(max_fragments=None,
                                                     max_control_frames=None)
    other, other_sock, other_peer = connection()

    def swallow(ws):
        ws.accept()
        if detached:
            ws.detach(Swallow())
            return
        for _ in ws:
            pass

    def echo(ws):
        ws.accept()
        for message in ws:
            ws.send(message)

    stop = threading.Event()
    served = [serve_view(flooded, flooded_sock, swallow), serve_view(other, other_sock, echo)]
    flooded_peer.read_head()
    other_peer.read_head()
    thread = flood_from_a_thread(flooded_peer.sock, data, stop)
    wait_until(lambda: flooded.bytes_in > 0)
    other_peer.send_text("my turn")
    assert other_peer.recv() == "my turn"
    read_by_then = flooded.bytes_in
    stop.set()
    thread.join(TIMEOUT)
    total = len(data)
    assert read_by_then < total, "the echo waited for the whole flood"
    other_peer.send_close()
    flooded_peer.close()
    other_peer.recv_close()
    for greenlet in served:
        greenlet.get(timeout=TIMEOUT)
    other_peer.close()
    assert_nothing_left(before)


def test_a_views_budgets_override_the_settings_and_the_close_is_counted(before, caplog,
                                                                      monkeypatch):
    from django_ws.connection import counters

    monkeypatch.setattr(counters, "policy_closes", {})
    websocket, sock, peer = connection()  # the defaults: 4096 fragments
    got = []

    def view(ws):
        ws.configure(max_fragments=3)  # what @accept_websocket(max_fragments=3) does
        ws.accept()
        got.extend(ws)

    served = serve_view(websocket, sock, view)
    peer.read_head()
    peer.sock.sendall(client_frame(1, b"a", fin=False) + client_frame(0, b"b", fin=False)
                      + client_frame(0, b"c") + client_frame(1, b"d", fin=False)
                      + client_frame(0, b"e", fin=False) * 3)
    code, reason = peer.recv_close()
    assert (code, reason) == (1008, "a message in more than 3 fragments (WEBSOCKET_MAX_FRAGMENTS)")
    peer.close()  # a failed connection waits for TCP's end, not for a close frame
    served.get(timeout=TIMEOUT)
    assert got == ["abc"]
    assert counters.policy_closes == {"fragments": 1}
    assert caplog.text.count("closed with 1008: a message in more than 3 fragments") == 1
    assert "/core/" in caplog.text
    assert_nothing_left(before)


class EchoHandler:
    def __init__(self, websocket):
        self.websocket = websocket

    def on_message(self, message):
        self.websocket.send(message)

    def on_close(self):
        pass


def serve_and_end(kind: str):
    """One connection served to its end; a weak reference to it, nothing else."""
    import weakref

    websocket, sock, peer = connection(message_rate=100 if kind == "rate limited" else None)

    def view(ws):
        ws.accept()
        if kind == "detached":
            ws.detach(EchoHandler(ws))
            return
        if kind == "group":
            ws.join("room")
        if kind == "background reader":
            gevent.sleep(_BUSY_AFTER * 4)  # a reader greenlet takes over meanwhile
        for message in ws:
            ws.send(message)

    served = serve_view(websocket, sock, view)
    peer.send_text("hello")
    assert peer.recv() == "hello"
    if kind == "vanished":
        peer.close()
    elif kind == "protocol error":
        peer.sock.sendall(client_frame(1, b"x", rsv1=True))  # no extension: RSV1 is 0
        assert peer.recv_close()[0] == 1002
        peer.close()
    else:
        peer.send_close()
        peer.recv_close()
        peer.close()
    served.get(timeout=TIMEOUT)
    wait_until(lambda: websocket.closed and not websocket.detached)  # detached: ended
    ended_connections.clear()  # serve_view's record of the detached ones
    return weakref.ref(websocket)


@pytest.mark.parametrize("kind", ["function", "detached", "group", "background reader",
                                  "vanished", "protocol error", "rate limited"])
def test_an_ended_connection_is_freed_without_the_cyclic_gc(before, kind):
    """Its buffers and inbox go with its last reference, not at the next full
    collection: a server that ended thousands of connections holding
    megabytes each must not wait for the cyclic GC to give them back."""
    import gc

    gc.collect()
    gc.disable()
    try:
        freed = serve_and_end(kind)
        # Greenlets that were ending it (a closing one, the reader) may hold
        # it a moment longer; a reference cycle would hold it for ever.
        try:
            wait_until(lambda: freed() is None)
        except AssertionError:
            pytest.fail(f"still referenced by {[type(r) for r in gc.get_referrers(freed())]}")
    finally:
        gc.enable()
    assert_nothing_left(before)


def test_no_text_the_server_sends_reads_as_a_group_envelope(before, settings):
    """A view relaying a user's text cannot forge an envelope for the JS client:
    only envelopes begin with ``{"group":`` (django_ws.encoding.plain_text)."""
    import json

    from django_ws.groups import broadcast

    settings.WEBSOCKET_GROUPS = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}
    forged = '{"group":"g","position":"e-999","data":"forged"}'
    websocket, sock, peer = connection()

    def view(ws):
        ws.join("relay")  # a plain member: raw frames, no envelopes
        ws.send(forged)
        ws.send(json.loads(forged), binary=False)
        broadcast("relay", forged)
        ws.send(forged, binary=True)  # the JS client reads no binary frame as one
        ws.send("{}")

    served = serve_view(websocket, sock, view)
    assert peer.recv() == " " + forged  # the same JSON value
    assert json.loads(peer.recv()) == json.loads(forged)
    relayed = peer.recv()
    assert relayed == " " + forged
    assert peer.recv() == forged.encode()
    assert peer.recv() == "{}"
    assert peer.recv_close() == (1000, "")
    served.get(timeout=TIMEOUT)
    peer.close()
    assert_nothing_left(before)
