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

Off by default: then the connection has no ``MessageRate``, and a read
costs one attribute test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent

__all__ = ["MessageRate"]

#: The longest single wait of a throttled reader: between two, it looks
#: whether the connection started closing (then it reads at full speed, to
#: see the client's close frame within the close timeout).
THROTTLE_STEP = 0.25


def _is_message(event: Any) -> bool:
    return type(event) is str or type(event) is bytes


class MessageRate:
    """How many messages the client may still send, and when the next read may be."""

    __slots__ = ("_burst", "_close", "_rate", "_timer", "_tokens", "_tokens_at", "read_after")

    def __init__(self, rate: float, burst: float | None, close: bool) -> None:
        self._rate = rate
        self._burst = float(burst or max(1.0, rate))
        self._close = close  # past the rate: close with 1008, not read more slowly
        self._tokens = 0.0
        self._tokens_at: float | None = None  # None: the bucket starts full
        #: When a throttled connection may be read again (0: now).
        self.read_after = 0.0
        self._timer: Any = None  # a detached connection's wait

    @property
    def tokens(self) -> float:
        """Messages the client may still send at once; below 0 while throttled."""
        return self._tokens

    def admit(self, events: list[Any]) -> tuple[list[Any], str | None]:
        """Charge the messages among ``events`` to the bucket.

        Returns:
            The events to process, and None; or, past the rate with
            ``rate_limit_close``, those within the limit and why the
            connection must close with 1008. Past the rate otherwise, all of
            them, with ``read_after`` set: the next read waits.
        """
        rate = self._rate
        now = time.monotonic()
        if self._tokens_at is None:
            tokens = self._burst
        else:
            tokens = min(self._burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        count = sum(1 for event in events if _is_message(event))
        if self._close and count > tokens:
            admitted = int(tokens)
            self._tokens = tokens - admitted
            kept = []
            for event in events:
                if _is_message(event):
                    if admitted == 0:
                        continue
                    admitted -= 1
                kept.append(event)
            return kept, f"more than {rate:g} messages per second (WEBSOCKET_MESSAGE_RATE)"
        self._tokens = tokens - count
        if self._tokens < 0:
            self.read_after = now + -self._tokens / rate
        return events, None

    def wait(self, block: bool, timeout: float | None, still_open: Callable[[], bool]) -> bool:
        """Wait out the client's excess before the next read.

        Returns:
            True when the read must not happen yet (a non-blocking read).

        Raises:
            TimeoutError: ``timeout`` ended first (the view's ``wait()``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            remaining = self.read_after - now
            if remaining <= 0 or not still_open():
                self.read_after = 0.0
                return False
            if not block:
                return True
            step = min(remaining, THROTTLE_STEP)
            if deadline is not None:
                if deadline <= now:
                    raise TimeoutError
                step = min(step, deadline - now)
            gevent.sleep(step)

    def call_after(self, callback: Callable[[], None]) -> bool:
        """For a detached connection: call ``callback`` once the throttle is over.

        Returns:
            False when no throttle is on: the caller watches the socket.
        """
        remaining = self.read_after - time.monotonic()
        if remaining <= 0:
            return False
        if self._timer is not None:
            self._timer.close()
        timer = self._timer = gevent.get_hub().loop.timer(remaining)
        timer.start(callback)
        return True

    @property
    def waiting(self) -> bool:
        """Whether a detached connection's wait (``call_after``) is armed."""
        return self._timer is not None and self._timer.active

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.close()
