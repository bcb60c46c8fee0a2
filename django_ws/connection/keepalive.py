"""Keepalive: a ping after a silence, a failed connection after no answer."""

from __future__ import annotations

import time
from typing import Any

import gevent
from websockets.frames import CloseCode
from websockets.protocol import State

from ..protocol import WebSocketProtocol
from . import counters
from .link import Link
from .writing import Writer

__all__ = ["Keepalive"]

_OPEN = State.OPEN


class Keepalive:
    """The keepalive timer of a connection: any data from the client resets it.

    Its timer holds this object's callback: ``stop()`` closes it at the end.
    """

    __slots__ = ("_interval", "_link", "_ping_pending", "_ping_sent", "_protocol",
                 "_timeout", "_timer", "_writer", "received")

    def __init__(self, link: Link, protocol: WebSocketProtocol, writer: Writer) -> None:
        self._link = link
        self._protocol = protocol
        self._writer = writer
        self._interval: float | None = None
        self._timeout: float | None = None
        self._timer: Any = None
        #: Data arrived since the last tick (set by the reader).
        self.received = False
        self._ping_pending = False  # a ping is unanswered
        # The monotonic_ns of the unanswered keepalive ping, for the metrics.
        self._ping_sent: int | None = None

    def start(self, interval: float | None, timeout: float | None) -> None:
        """Ping after ``interval`` seconds of silence, fail after ``timeout`` more."""
        self._interval = interval
        self._timeout = timeout
        self._arm(interval)

    def _arm(self, delay: float | None) -> None:
        if delay is None:
            return
        timer = self._timer = gevent.get_hub().loop.timer(delay)
        timer.start(self._tick)

    def _tick(self) -> None:
        # A libev timer callback, run by the hub: it must not block. Silence
        # for a ping interval gets a ping (RFC 6455 5.5.2); silence for the
        # ping timeout after that fails the connection with 1011.
        self._timer.close()
        if self._protocol.state is not _OPEN or self._link.lost:
            return
        if self.received:
            self.received = False
            self._ping_pending = False
            self._arm(self._interval)
        elif not self._ping_pending:
            # The payload tells its pong from others (RFC 6455 5.5.3: a pong
            # echoes its ping's), for django_ws_ping_rtt_seconds.
            sent = self._ping_sent = time.monotonic_ns()
            self._protocol.send_ping(sent.to_bytes(8, "big"))
            self._ping_pending = True
            if self._writer.send_nowait():
                self._arm(self._timeout or self._interval)
        elif self._timeout is not None:
            gevent.spawn(self._fail, CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        else:
            self._arm(self._interval)

    @property
    def awaits_pong(self) -> bool:
        return self._ping_sent is not None

    def match_pong(self, data: bytes) -> None:
        """A pong arrived: the answer to our ping gives its round trip."""
        # An unsolicited pong (RFC 6455 5.5.3 allows them) matches nothing.
        sent = self._ping_sent
        if sent is not None and data == sent.to_bytes(8, "big"):
            self._ping_sent = None
            counters.ping_rtt.observe((time.monotonic_ns() - sent) / 1e9)

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): close frame, then drop TCP."""
        if self._protocol.state is _OPEN and not self._link.lost:
            self._protocol.fail(code, reason)
            self._writer.flush_quietly(self._writer.options.close_timeout)
        self._link.abort(reason)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.close()
