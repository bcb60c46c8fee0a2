"""Keepalive: a ping after a silence, a failed connection after no answer."""

from __future__ import annotations

import time
from typing import Any

import gevent
from websockets.frames import CloseCode

from ..exceptions import ConnectionClosed
from . import counters
from .base import _OPEN
from .holding import Holding

__all__ = ["Keepalive"]


class Keepalive(Holding):
    """The keepalive timer: any data from the client resets it."""

    __slots__ = ("_keepalive", "_ping_pending", "_ping_sent", "_received")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Data arrived since the last tick; a ping is unanswered.
        self._received = False
        self._ping_pending = False
        self._keepalive: Any = None
        # The monotonic_ns of the unanswered keepalive ping, for the metrics.
        self._ping_sent: int | None = None

    def _arm_keepalive(self, delay: float | None) -> None:
        if delay is None:
            return
        timer = self._keepalive = gevent.get_hub().loop.timer(delay)
        timer.start(self._keepalive_tick)

    def _keepalive_tick(self) -> None:
        # A libev timer callback, run by the hub: it must not block. Silence
        # for a ping interval gets a ping (RFC 6455 5.5.2); silence for the
        # ping timeout after that fails the connection with 1011.
        self._keepalive.close()
        if self.protocol.state is not _OPEN or self._lost:
            return
        options = self._options
        if self._received:
            self._received = False
            self._ping_pending = False
            self._arm_keepalive(options.ping_interval)
        elif not self._ping_pending:
            # The payload tells its pong from others (RFC 6455 5.5.3: a pong
            # echoes its ping's), for django_ws_ping_rtt_seconds.
            sent = self._ping_sent = time.monotonic_ns()
            self.protocol.send_ping(sent.to_bytes(8, "big"))
            self._ping_pending = True
            if self._send_nowait():
                self._arm_keepalive(options.ping_timeout or options.ping_interval)
        elif options.ping_timeout is not None:
            gevent.spawn(self._fail, CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        else:
            self._arm_keepalive(options.ping_interval)

    def _match_pong(self, data: bytes) -> None:
        # An unsolicited pong (RFC 6455 5.5.3 allows them) matches nothing.
        sent = self._ping_sent
        if sent is not None and data == sent.to_bytes(8, "big"):
            self._ping_sent = None
            counters.ping_rtt.observe((time.monotonic_ns() - sent) / 1e9)

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): close frame, then drop TCP."""
        if self.protocol.state is _OPEN and not self._lost:
            self.protocol.fail(code, reason)
            try:
                self._flush(self._options.close_timeout)
            except (ConnectionClosed, TimeoutError):
                pass
        self._abort(reason)
