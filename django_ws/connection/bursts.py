"""Greenlets for detached connections' callback bursts.

A detached connection (``WebSocket.detach()``) holds no greenlet while idle.
When its socket has data, a libev watcher fires in the hub, and the burst
(read, call ``on_message`` for each message) needs a greenlet, since a
handler may block (a query, a slow client). Making one per burst costs more
than the burst itself; these are kept and lent out instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
from greenlet import getcurrent
from greenlet import greenlet as RawGreenlet

__all__ = ["Bursts", "run_burst"]

logger = logging.getLogger("django_ws.bursts")  # its name before the move


class Bursts:
    """Greenlets lent to bursts started from the event loop, kept between them.

    On CPython 3.11 a new greenlet costs about 8 µs, most of it the mmap and
    munmap of its own Python frame chunk; switching to a kept one costs
    0.4 µs. They are plain greenlets, children of the hub: nothing joins or
    links them. At most ``keep`` wait idle; more are made while bursts block
    (a handler that queries the database) and end after.
    """

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._idle: list[RawGreenlet] = []
        # The burst being handed to a worker. Not a switch() argument: a
        # greenlet keeps the arguments of its first switch for its whole life.
        self._handoff: Callable[[], None] | None = None

    def run(self, burst: Callable[[], None]) -> None:
        """Run ``burst`` on a greenlet: at once from the hub (a watcher's
        callback), else on the event loop's next turn."""
        hub = gevent.get_hub()
        if getcurrent() is hub:
            self._start(hub, burst)
        else:
            hub.loop.run_callback(self._start, hub, burst)

    def _start(self, hub: Any, burst: Callable[[], None]) -> None:
        worker = None
        while self._idle and worker is None:
            candidate = self._idle.pop()
            if not candidate.dead and candidate.parent is hub:
                worker = candidate
        if worker is None:
            worker = RawGreenlet(self._work, hub)
        self._handoff = burst
        worker.switch()

    def _work(self) -> None:
        hub = gevent.get_hub()
        me = getcurrent()
        while True:
            burst, self._handoff = self._handoff, None
            if burst is None:
                # Only _start() may wake a parked worker; anything else is a
                # bug elsewhere: leave rather than guess.
                if me in self._idle:
                    self._idle.remove(me)
                logger.error("a callback greenlet was woken for no burst; it ends")
                return
            try:
                burst()
            except Exception:
                # A burst ends its connection on its own faults; this is the
                # last guard, so that the worker, and the hub it would raise
                # into, carry on.
                logger.exception("error in a callback burst")
            burst = None  # holds its connection: not while parked
            if len(self._idle) >= self._keep:
                return
            self._idle.append(me)
            hub.switch()  # parked until _start() hands it the next burst


_bursts = Bursts(keep=32)

#: Run a callable on a lent greenlet (see :meth:`Bursts.run`).
run_burst = _bursts.run
