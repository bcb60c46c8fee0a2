"""A watchdog on the event loop, and a shutdown that a stuck view cannot stop.

Every connection of a process shares one gevent hub. A view that never
yields (a loop that polls, a C call gevent cannot patch: psycopg2 without
psycogreen, mysqlclient, a long numpy computation) stops all of them, and
the signal handlers too, which gevent runs on the hub: SIGTERM did nothing.

- **The watchdog**: a real OS thread, which runs whatever the hub does,
  reads a heartbeat the hub writes every ``threshold / 4`` seconds. When it
  is older than ``threshold`` (``WEBSOCKET_LOOP_BLOCKED_THRESHOLD``), the
  watchdog logs one WARNING naming the connection whose greenlet holds the
  loop (found on the stack of the main thread: the view's frame) and the
  stack where it blocks, with what to do; when the loop is back, the span is
  counted (``django_ws_loop_blocked_seconds``).
- **SIGTERM and SIGINT** are handled by a plain Python signal handler, which
  CPython runs in the main thread at the next bytecode, in whichever greenlet
  runs then: when that greenlet holds a blocked loop, the handler raises
  :class:`~django_ws.exceptions.ViewInterrupted` in it, which ends the view;
  the loop then runs the shutdown (1001 to every other client). A loop that
  blocks later in the shutdown gets the same from the watchdog
  (``_thread.interrupt_main``), and a process still there ``drain_timeout``
  + 5 seconds after the signal exits at once (``os._exit``): a C call that
  never returns cannot keep a server from stopping.

Used by ``runws`` (``serve()``); the gunicorn worker has gunicorn's own
shutdown (its arbiter kills a worker that does not stop in time).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..connection import counters
from ..exceptions import ViewInterrupted

__all__ = ["LoopWatchdog"]

logger = logging.getLogger("django_ws.watchdog")  # its name before the move

#: Seconds past the drain timeout after which a stopping process exits at once.
_HARD_EXIT_AFTER = 5.0
#: The signal the watchdog raises in the main thread to interrupt a stuck view.
_INTERRUPT = signal.SIGUSR2

_ADVICE = (
    "Every other connection of this process waited meanwhile. Code that blocks the "
    "loop: a loop that polls without waiting (sleep, or wait() for a message), a C "
    "call gevent cannot patch (psycopg2 without psycogreen's wait callback, "
    "mysqlclient, a long computation): run it in a thread "
    "(gevent.get_hub().threadpool.spawn(...).get()), use a gevent-friendly driver "
    "(psycopg 3, or psycogreen for psycopg2), or run it outside the server."
)


def _original(module: str, name: str) -> Any:
    """The stdlib function, not gevent's: the watchdog is a real thread."""
    try:
        from gevent import monkey

        return monkey.get_original(module, name)
    except ImportError:  # pragma: no cover - gevent is a dependency
        return getattr(__import__(module), name)


class LoopWatchdog:
    """Watches the hub from a real thread; see the module docstring.

    Args:
        threshold: seconds the loop may stay blocked before a WARNING; None
            watches only for the shutdown.
    """

    def __init__(self, threshold: float | None) -> None:
        self.threshold = threshold
        self._beat_every = min(0.25, threshold / 4) if threshold else 0.25
        self._last_beat = time.monotonic()
        self._timer: Any = None
        self._hub: Any = None
        self._running = False
        self._blocked_since: float | None = None  # a span reported, not yet over
        self._stop_at: float | None = None  # when SIGTERM/SIGINT came
        self._stop_signal = signal.SIGTERM
        self._drain_timeout = 10.0
        self._interrupted_at = 0.0
        self._main_thread = _original("threading", "get_ident")()

    # -- the hub's side ----------------------------------------------------------

    def start(self) -> None:
        import gevent

        self._hub = gevent.get_hub()
        self._timer = self._hub.loop.timer(self._beat_every, self._beat_every)
        self._timer.start(self._beat)
        self._running = True
        _original("_thread", "start_new_thread")(self._watch, ())

    def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.close()

    def _beat(self) -> None:
        self._last_beat = time.monotonic()

    def blocked_for(self) -> float:
        """Seconds since the hub last beat (0.0 while it beats on time)."""
        late = time.monotonic() - self._last_beat - self._beat_every
        return max(0.0, late)

    # -- the signals ---------------------------------------------------------------

    def install_stop_signals(self, on_stop: Callable[[], None], drain_timeout: float) -> None:
        """SIGTERM and SIGINT call ``on_stop`` on the hub, even past a stuck view."""
        import gevent

        hub = gevent.get_hub()

        def on_signal(signum: int, frame: Any) -> None:
            # In the main thread, at the next bytecode of whichever greenlet
            # runs: append a callback (no switch), then, if this greenlet is
            # the one that holds the loop, end it.
            if self._stop_at is None:
                hub.loop.run_callback(on_stop)
            self.stop_requested(signum)

        install = _original("signal", "signal")
        for signum in (signal.SIGTERM, signal.SIGINT):
            install(signum, on_signal)
        self.install_interrupt(drain_timeout)

    def install_interrupt(self, drain_timeout: float) -> None:
        """Let the watchdog interrupt a stuck view once the process is stopping.

        For a server with its own stop signals (the gunicorn worker), which
        then calls :meth:`stop_requested` from its handler.
        """
        import gevent

        self._drain_timeout = drain_timeout
        hub = gevent.get_hub()

        def on_interrupt(signum: int, frame: Any) -> None:
            self._interrupt_if_stuck(hub)

        _original("signal", "signal")(_INTERRUPT, on_interrupt)

    def stop_requested(self, signum: int) -> None:
        """The process was asked to stop (from a Python signal handler, main thread)."""
        import gevent

        if self._stop_at is None:
            self._stop_at = time.monotonic()
            self._stop_signal = signal.Signals(signum)
        self._interrupt_if_stuck(gevent.get_hub())

    def _interrupt_if_stuck(self, hub: Any) -> None:
        from greenlet import getcurrent

        blocked = self.blocked_for()
        threshold = self.threshold or 1.0
        if getcurrent() is not hub and blocked > threshold:
            self._interrupted_at = time.monotonic()
            raise ViewInterrupted(
                f"it held the event loop for {blocked:.1f}s when the server was asked to "
                f"stop ({self._stop_signal.name})")

    # -- the watchdog thread ---------------------------------------------------------

    def _watch(self) -> None:
        sleep = _original("time", "sleep")
        while self._running:
            sleep(self._beat_every)
            try:
                self._check()
            except Exception:  # never let the watchdog die quietly
                sys.stderr.write(f"django_ws: the event loop watchdog failed: "
                                 f"{traceback.format_exc()}")

    def _check(self) -> None:
        now = time.monotonic()
        blocked = self.blocked_for()
        threshold = self.threshold
        if threshold is not None:
            if blocked > threshold and self._blocked_since is None:
                self._blocked_since = now - blocked
                self._report(blocked)
            elif blocked <= threshold and self._blocked_since is not None:
                counters.loop_blocked.observe(now - self._blocked_since - blocked)
                self._blocked_since = None
        stop_at = self._stop_at
        if stop_at is None:
            return
        if blocked > (threshold or 1.0) and now - self._interrupted_at > 1.0:
            # Stopping, and the loop is stuck: raise in the greenlet holding it.
            self._interrupted_at = now
            _original("_thread", "interrupt_main")(_INTERRUPT)
        if now - stop_at > self._drain_timeout + _HARD_EXIT_AFTER:
            sys.stderr.write(
                f"django_ws: still running {now - stop_at:.1f}s after the signal to stop "
                f"(drain timeout {self._drain_timeout}s): a view blocks in C; exiting now\n")
            sys.stderr.flush()
            os._exit(1)

    def _report(self, blocked: float) -> None:
        # The stack now, while it blocks; the log line from the hub, once it
        # runs again: logging's locks are gevent's (the process is patched),
        # and this thread must never hold or wait for one that a greenlet
        # needs (a greenlet waiting on a lock this thread released may not
        # be woken).
        frame = sys._current_frames().get(self._main_thread)
        where = _connection_of(frame)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)\n"
        del frame
        self._hub.loop.run_callback_threadsafe(
            logger.warning,
            "the event loop has been blocked for %.2fs by %s (WEBSOCKET_LOOP_BLOCKED_THRESHOLD "
            "is %ss). %s\nWhere it blocks:\n%s", blocked, where, self.threshold, _ADVICE,
            stack.rstrip())


#: Functions that run a view (function views, detached callbacks), and the
#: local variable that holds the connection there (dispatch.py,
#: connection/detached.py).
_VIEW_RUNNERS = {"run_websocket_view": "websocket", "_serve_callbacks": "self"}


def _connection_of(frame: Any) -> str:
    """The WebSocket (path and view) whose view runs in ``frame``'s stack, if any."""
    from ..connection import WebSocket

    while frame is not None:
        # Only the frames that run a view, whose connection is a known local:
        # reading another thread's frames is kept to the least.
        name = _VIEW_RUNNERS.get(frame.f_code.co_name)
        if name is not None:
            value = frame.f_locals.get(name)
            # type(), not isinstance(): isinstance() would set up a Django lazy
            # object (request.user, settings) here, on this thread.
            if issubclass(type(value), WebSocket):
                return f"WebSocket {value._describe()} (view {value.view_name})"
        frame = frame.f_back
    return "no WebSocket view (a plain HTTP view, or the server itself)"
