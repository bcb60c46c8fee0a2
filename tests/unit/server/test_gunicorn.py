"""The gunicorn worker's shutdown, in-process (tests/live/test_gunicorn.py runs it)."""

from __future__ import annotations

import gevent
from gevent.event import Event

from django_ws.connection import open_connections
from django_ws.gunicorn import GeventWebSocketWorker
from tests.support.timing import UNIT


class Closing:
    """A connection whose close() takes long: the client does not answer."""

    def __init__(self):
        self.calls = 0
        self.closed = False
        self.answered = Event()

    def close(self, code, reason=""):
        self.calls += 1
        self.closed = True  # closing: no more messages can be sent
        self.answered.wait(10 * UNIT)


def test_shutdown_closes_each_connection_once():
    worker = object.__new__(GeventWebSocketWorker)  # only _close_websockets is used
    connection = Closing()
    open_connections.add(connection)
    loop = gevent.spawn(worker._close_websockets)
    try:
        gevent.sleep(1.3)  # the loop looks again every 0.5 s (a constant, not scaled)
        assert connection.calls == 1
    finally:
        loop.kill()
        connection.answered.set()
        open_connections.discard(connection)
