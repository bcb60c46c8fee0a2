"""Detached serving: callbacks instead of a waiting view (``WebSocketView``).

A detached connection has no view waiting: a libev watcher in the hub
notices data, and a greenlet lent for the burst (``django_ws.connection.bursts``) reads
it and passes each message to the handler's ``on_message``. An idle detached
connection holds no greenlet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from websockets.frames import CloseCode

from ..exceptions import ConnectionClosed
from .base import MessageHandler, logger
from .bursts import run_burst
from .closing import Closing
from .reading import _LAZY_READS, _STREAK
from .registry import detached_connections, none_detached

__all__ = ["Detached"]

#: Reads one callback burst may do before the other connections get their
#: turn (see Detached._serve_callbacks): at most 128 KiB.
_BURST_READS = 2


class Detached(Closing):
    """The callbacks' side of a connection: watcher, bursts, the end."""

    __slots__ = ("_dispatching", "_keeper", "_on_end", "_watcher")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The socket's io watcher, the file object that keeps the socket
        # open, whether a greenlet is passing messages to the handler, what
        # to call at the end.
        self._watcher: Any = None
        self._keeper: Any = None
        self._dispatching = False
        self._on_end: Callable[[Any], None] | None = None

    def detach(self, handler: MessageHandler) -> None:
        """Serve this connection with ``handler``'s callbacks once the view returns.

        A view that waits for messages keeps its greenlet, and with it its
        Python and C stacks (about 12 KiB), for the connection's whole life.
        Detached, the view returns through Django's middleware as any
        request does; the event loop then watches the socket, and each burst
        of messages goes to ``handler.on_message`` on a greenlet lent for the
        burst (django_ws.connection.bursts), one message after the other, in order.
        ``handler.on_close`` is called once, when the connection has ended.
        Nothing is read while ``on_message`` runs: the client's data waits
        in the TCP window.

        An exception in ``on_message`` is logged and closes the connection
        with 1011. ``WebSocketView`` calls this after ``open()``.
        """
        if not self._accepted:
            self.accept()
        self._handler = handler
        # The view goes: no reader greenlet for it. One started while open()
        # ran stops after its current read (see _serve_callbacks).
        self._busy_timer.stop()
        self._handover = True

    @property
    def detached(self) -> bool:
        """True when :meth:`detach` handed the connection to callbacks."""
        return self._handler is not None

    def serve_detached(
        self, keeper: Any, *, on_end: Callable[[Any], None] | None = None
    ) -> None:
        """Start the callbacks; called by the HTTP handler once the view returned.

        Args:
            keeper: a file object made on the socket (``makefile()``): the
                socket is closed only once the HTTP server closed its own
                handle and this is closed, at the end of the connection.
            on_end: called with this connection when it has ended (the
                server's log line).
        """
        assert self._handler is not None  # detach() was called
        self._keeper = keeper
        self._on_end = on_end
        self._watcher = gevent.get_hub().loop.io(self._sock.fileno(), 1)
        detached_connections.add(self)  # type: ignore[arg-type]  # see handshake.py
        none_detached.clear()
        queue = self._queue
        if self._initial or queue or queue.closed:
            # Bytes sent with the handshake, messages the view left queued,
            # or the end: not news for the watcher.
            self._dispatch()
        else:
            self._watcher.start(self._on_readable)

    def _on_readable(self) -> None:
        # The io watcher's callback, in the hub: it must not block.
        self._watcher.stop()
        self._dispatch()

    def _dispatch(self) -> None:
        # Flagged from now, not from when the greenlet runs: a close() in
        # between leaves the end to it (one greenlet ends the connection).
        self._dispatching = True
        run_burst(self._serve_callbacks)

    def _serve_callbacks(self) -> None:
        """Pass what is queued to the handler, read, repeat while data keeps
        coming; then watch the socket again, or end."""
        queue = self._queue
        handler = self._handler
        assert handler is not None  # only _end_detached() clears it, never while dispatching
        reads = handed = 0
        try:
            while True:
                while (message := queue.get_nowait()) is not None:
                    handed += 1
                    if handed % _STREAK == 0:
                        gevent.sleep(0)  # one read may queue thousands: share the loop
                    try:
                        handler.on_message(message)
                    except ConnectionClosed as exc:
                        if not self._ended_by_client():
                            logger.exception("error in on_message of WebSocket %s",
                                             self._describe())
                        else:  # its answer found the client gone (see _ended_by_client)
                            logger.info("WebSocket %s: on_message stopped at %r after the "
                                        "client ended the connection", self._describe(), exc)
                    except Exception:
                        logger.exception("error in on_message of WebSocket %s; closing it "
                                         "with 1011", self._describe())
                        self.close(CloseCode.INTERNAL_ERROR)
                if self._held is not None:
                    self._release_held()  # the handler took what came before the error
                if queue.closed or reads == _BURST_READS:
                    break  # past the bound, the watcher fires again at once
                # As in _recv(): reading again right away finds the client's
                # next message when it answers fast (no trip through the event
                # loop), and costs a failed read when it does not; after a
                # miss, the next bursts leave it to the watcher.
                if reads and self._lazy_reads:
                    self._lazy_reads -= 1
                    break
                # Blocks only while close() or a reader started during
                # open() holds the socket; they read, this waits.
                with self._read_lock:
                    got = self._receive(False, None, False)  # no block, timeout, backpressure
                if not got and not queue.closed:
                    if reads:
                        self._lazy_reads = _LAZY_READS
                    break  # nothing there
                reads += 1
        except Exception:
            # Not the handler's: ours. Drop the connection rather than leave
            # it unwatched forever.
            logger.exception("error serving WebSocket %s; dropping it", self._describe())
            self._abort()
        finally:
            self._dispatching = False
        if not queue.closed and self._before_block is not None:
            try:
                self._before_block()  # e.g. release the database connections it opened
            except Exception:
                # A database gone away: the handler's state is unknown, and
                # an unwatched connection would never end. End it.
                logger.exception("error in the idle hook of WebSocket %s; closing it with 1011",
                                 self._describe())
                self._close_quietly(CloseCode.INTERNAL_ERROR)
        if queue.closed:
            self._end_detached()  # which releases what on_close opened too
            return
        if not self._after_throttle(self._on_readable):  # past the message rate: later
            self._watcher.start(self._on_readable)

    def _after_close(self) -> None:
        if self._watcher is not None and not self._dispatching:
            self._end_detached()  # else the dispatching greenlet ends it, after the handler

    def _end_detached(self) -> None:
        """The end of a detached connection: on_close, then release everything."""
        if self not in detached_connections:
            return  # ended already
        detached_connections.discard(self)
        self._watcher.close()  # before its file descriptor goes
        handler = self._handler
        assert handler is not None
        # Each step on its own: one that fails must not skip the others.
        try:
            self._step("on_close", handler.on_close)
            self._step("finish", self.finish, failed=False)
            if self._before_block is not None:
                self._step("the idle hook", self._before_block)
        finally:
            # The socket closes with the keeper (see serve_detached).
            self._step("closing the socket", self._keeper.close)
            on_end, self._on_end = self._on_end, None
            self._handler = None  # the view holds this connection: no cycle left
            if not detached_connections:
                none_detached.set()
        if on_end is not None:
            self._step("the end callback", on_end, self)
