"""The message rate limit: a token bucket per connection.

A client may send ``message_rate`` messages per second on average, and
``message_burst`` at once above that (``WEBSOCKET_MESSAGE_RATE``,
``WEBSOCKET_MESSAGE_BURST``; per view as ``@accept_websocket`` keywords).
Past them, by default, the server reads that client more slowly: the
messages already read are delivered, the next read waits until the client
is back within its rate, and meanwhile the kernel's window closes on it
(TCP backpressure, as a full inbox does). With ``rate_limit_close`` the
connection is closed with 1008 (policy violation) instead, after the view
got the messages within the limit.

Off by default; then a read costs one attribute test.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from websockets.frames import CloseCode

from . import counters
from .base import _OPEN, logger
from .keepalive import Keepalive

__all__ = ["RateLimit"]

#: The longest single wait of a throttled reader: between two, it looks
#: whether the connection started closing (then it reads at full speed, to
#: see the client's close frame within the close timeout).
_THROTTLE_STEP = 0.25


def _is_message(event: Any) -> bool:
    return type(event) is str or type(event) is bytes


class RateLimit(Keepalive):
    """How many messages the client may still send, and when the next read may be."""

    __slots__ = ("_rate_timer", "_read_after", "_tokens", "_tokens_at")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tokens = 0.0
        self._tokens_at: float | None = None  # None: the bucket starts full
        # When a throttled connection may be read again (0: now).
        self._read_after = 0.0
        self._rate_timer: Any = None  # a detached connection's wait

    def _limit_rate(self, events: list[Any]) -> list[Any]:
        """Charge the messages among ``events`` to the bucket.

        Returns:
            The events to process: all of them, with the next read delayed
            when the client went past its rate; or, with
            ``rate_limit_close``, those within the limit, the protocol
            failing the connection with 1008 for the rest.
        """
        options = self._options
        rate: float = options.message_rate  # type: ignore[assignment]  # only called when set
        burst = float(options.message_burst or max(1.0, rate))
        now = time.monotonic()
        if self._tokens_at is None:
            tokens = burst
        else:
            tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        count = sum(1 for event in events if _is_message(event))
        if options.rate_limit_close and count > tokens:
            admitted = int(tokens)
            self._tokens = tokens - admitted
            kept = []
            for event in events:
                if _is_message(event):
                    if admitted == 0:
                        continue
                    admitted -= 1
                kept.append(event)
            if self.protocol.state is _OPEN:
                cause = f"more than {rate:g} messages per second (WEBSOCKET_MESSAGE_RATE)"
                self.protocol.fail(CloseCode.POLICY_VIOLATION, cause)
                self._policy_close("message_rate", cause)
            return kept
        self._tokens = tokens - count
        if self._tokens < 0:
            self._read_after = now + -self._tokens / rate
        return events

    def _policy_close(self, reason: str, cause: str) -> None:
        """Log and count a close with 1008 for what the client sent, once.

        ``reason`` is a bounded label (``django_ws_policy_closes_total``);
        ``cause`` says what the client did and which setting allows more.
        """
        logger.info("WebSocket %s closed with 1008: %s", self._describe(), cause)
        counters.policy_close(reason)

    def _throttled(self, block: bool, timeout: float | None) -> bool:
        """Wait out the client's excess before the next read.

        Returns:
            True when the read must not happen yet (a non-blocking read).

        Raises:
            TimeoutError: ``timeout`` ended first (the view's ``wait()``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            remaining = self._read_after - now
            if remaining <= 0 or self.protocol.state is not _OPEN or self._lost:
                self._read_after = 0.0
                return False
            if not block:
                return True
            step = min(remaining, _THROTTLE_STEP)
            if deadline is not None:
                if deadline <= now:
                    raise TimeoutError
                step = min(step, deadline - now)
            gevent.sleep(step)

    def _after_throttle(self, callback: Any) -> bool:
        """For a detached connection: call ``callback`` once a throttle is over.

        Returns:
            False when no throttle is on: the caller watches the socket.
        """
        remaining = self._read_after - time.monotonic()
        if remaining <= 0 or self.protocol.state is not _OPEN:
            return False
        if self._rate_timer is not None:
            self._rate_timer.close()
        timer = self._rate_timer = gevent.get_hub().loop.timer(remaining)
        timer.start(callback)
        return True
