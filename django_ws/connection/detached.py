"""Detached serving: callbacks instead of a waiting view (``WebSocketView``).

A detached connection has no view waiting: a libev watcher in the hub
notices data, and a greenlet lent for the burst (``django_ws.connection.bursts``) reads
it and passes each message to the handler's ``on_message``. An idle detached
connection holds no greenlet: the registry of detached connections holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from websockets.frames import CloseCode

from ..exceptions import ConnectionClosed
from ..protocol import Message
from .bursts import run_burst
from .inbox import Inbox
from .link import Link
from .reading import LAZY_READS, STREAK, Reader
from .registry import detached_connections, none_detached
from .writing import Writer

if TYPE_CHECKING:  # pragma: no cover
    from .websocket import WebSocket

__all__ = ["DetachedServing", "MessageHandler"]

logger = logging.getLogger("django_ws.connection")

#: Reads one callback burst may do before the other connections get their
#: turn (see DetachedServing._serve_callbacks): at most 128 KiB.
_BURST_READS = 2


class MessageHandler(Protocol):
    """What :meth:`WebSocket.detach` calls (``WebSocketView`` is one)."""

    def on_message(self, message: Message) -> None: ...

    def on_close(self) -> None: ...


class DetachedServing:
    """The callbacks' side of a connection: watcher, bursts, the end.

    It and the connection hold each other, as the view (the handler) and
    the connection do: ``_end()`` lets go of both, so that an ended
    connection is freed without the cyclic GC.
    """

    __slots__ = ("_connection", "_dispatching", "_inbox", "_keeper", "_link", "_on_end",
                 "_reader", "_watcher", "_writer", "handler")

    def __init__(self, connection: WebSocket, handler: MessageHandler, link: Link,
                 inbox: Inbox, reader: Reader, writer: Writer) -> None:
        self._connection: WebSocket | None = connection
        self.handler: MessageHandler | None = handler
        self._link = link
        self._inbox = inbox
        self._reader = reader
        self._writer = writer
        # The socket's io watcher, the file object that keeps the socket
        # open, whether a greenlet is passing messages to the handler, what
        # to call at the end.
        self._watcher: Any = None
        self._keeper: Any = None
        self._dispatching = False
        self._on_end: Callable[[Any], None] | None = None

    def serve(self, connection: WebSocket, keeper: Any,
              on_end: Callable[[Any], None] | None) -> None:
        """Start the callbacks (see ``WebSocket.serve_detached``)."""
        self._keeper = keeper
        self._on_end = on_end
        self._watcher = gevent.get_hub().loop.io(self._link.sock.fileno(), 1)
        detached_connections.add(connection)
        none_detached.clear()
        inbox = self._inbox
        if self._reader.has_initial or inbox or inbox.closed:
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
        queue = self._inbox
        handler = self.handler
        reader, link = self._reader, self._link
        connection = self._connection
        if handler is None or connection is None:
            return  # ended meanwhile
        reads = handed = 0
        try:
            while True:
                while (message := queue.get_nowait()) is not None:
                    handed += 1
                    if handed % STREAK == 0:
                        gevent.sleep(0)  # one read may queue thousands: share the loop
                    try:
                        handler.on_message(message)
                    except ConnectionClosed as exc:
                        if not link.ended_by_client():
                            logger.exception("error in on_message of WebSocket %s",
                                             link.describe())
                        else:  # its answer found the client gone (see _ended_by_client)
                            logger.info("WebSocket %s: on_message stopped at %r after the "
                                        "client ended the connection", link.describe(), exc)
                    except Exception:
                        logger.exception("error in on_message of WebSocket %s; closing it "
                                         "with 1011", link.describe())
                        connection.close(CloseCode.INTERNAL_ERROR)
                if self._writer.held is not None:
                    self._writer.release_held()  # the handler took what came before the error
                if queue.closed or reads == _BURST_READS:
                    break  # past the bound, the watcher fires again at once
                # As in _recv(): reading again right away finds the client's
                # next message when it answers fast (no trip through the event
                # loop), and costs a failed read when it does not; after a
                # miss, the next bursts leave it to the watcher.
                if reads and reader.lazy_reads:
                    reader.lazy_reads -= 1
                    break
                # Blocks only while close() or a reader started during
                # open() holds the socket; they read, this waits.
                with reader.lock:
                    got = reader.read_once()
                if not got and not queue.closed:
                    if reads:
                        reader.lazy_reads = LAZY_READS
                    break  # nothing there
                reads += 1
        except Exception:
            # Not the handler's: ours. Drop the connection rather than leave
            # it unwatched forever.
            logger.exception("error serving WebSocket %s; dropping it", link.describe())
            link.abort()
        finally:
            self._dispatching = False
        if not queue.closed and reader.on_idle is not None:
            try:
                reader.on_idle()  # e.g. release the database connections it opened
            except Exception:
                # A database gone away: the handler's state is unknown, and
                # an unwatched connection would never end. End it.
                logger.exception("error in the idle hook of WebSocket %s; closing it with 1011",
                                 link.describe())
                connection._close_quietly(CloseCode.INTERNAL_ERROR)
        if queue.closed:
            self._end(connection)  # which releases what on_close opened too
            return
        rate = reader.rate
        if rate is None or connection.closed or not rate.call_after(self._on_readable):
            self._watcher.start(self._on_readable)  # else past the message rate: later

    def after_close(self, connection: WebSocket) -> None:
        """close() returned: end the connection, unless a burst is under way
        (the dispatching greenlet ends it, after the handler)."""
        if self._watcher is not None and not self._dispatching:
            self._end(connection)

    def _end(self, connection: WebSocket) -> None:
        """The end of a detached connection: on_close, then release everything."""
        if connection not in detached_connections:
            return  # ended already
        detached_connections.discard(connection)
        self._watcher.close()  # before its file descriptor goes
        handler = self.handler
        assert handler is not None
        step = self._link.step
        on_idle = self._reader.on_idle
        # Each step on its own: one that fails must not skip the others.
        try:
            step("on_close", handler.on_close)
            step("finish", connection.finish, failed=False)
            if on_idle is not None:
                step("the idle hook", on_idle)
        finally:
            # The socket closes with the keeper (see serve()).
            step("closing the socket", self._keeper.close)
            on_end, self._on_end = self._on_end, None
            # The view holds the connection, and the connection holds this:
            # no cycle left.
            self.handler = self._connection = None
            if not detached_connections:
                none_detached.set()
        if on_end is not None:
            step("the end callback", on_end, connection)
