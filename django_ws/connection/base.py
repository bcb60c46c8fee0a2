"""The state every part of a connection shares, and how a connection fails.

The connection is one object, built as a stack of layers, one module each
(see the package docstring): this is the bottom one. It holds what more than
one layer reads (the socket, the protocol, the inbox, the options, whether
the connection was lost) and the few steps every layer may take when
something goes wrong: describe the connection in a log line, drop it, name
the error a view gets.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from gevent.event import Event
from websockets.frames import Close, CloseCode
from websockets.http11 import Request
from websockets.protocol import State

from ..exceptions import ConnectionClosed, WebSocketUsageError
from ..options import ConnectionOptions
from ..protocol import Message, WebSocketProtocol
from .inbox import Inbox
from .redaction import redact_target

if TYPE_CHECKING:  # pragma: no cover
    from gevent.socket import socket as GeventSocket

__all__ = ["Connection", "MessageHandler"]

logger = logging.getLogger("django_ws.connection")

_OPEN, _CLOSED = State.OPEN, State.CLOSED


class MessageHandler(Protocol):
    """What :meth:`WebSocket.detach` calls (``WebSocketView`` is one)."""

    def on_message(self, message: Message) -> None: ...

    def on_close(self) -> None: ...


class Connection:
    """The shared state of a connection; the other layers build on it."""

    # Slots: an idle connection is mostly its objects, and a dict with this
    # many keys would not share them between instances (1.6 KiB each). Each
    # layer declares the slots it owns; these are read by several.
    __slots__ = (
        "_accepted", "_cleanups", "_close_seen", "_close_waiter", "_handler", "_held",
        "_initial", "_lost", "_options", "_path", "_peer", "_queue", "_sock", "closed_by_client",
        "messages_in", "messages_out", "opened_at", "protocol", "session_key", "user", "user_slot",
        "binary_in", "binary_out", "bytes_in", "bytes_out", "view_name",
    )

    def __init__(
        self,
        *,
        sock: GeventSocket,
        initial: bytes,
        request: Request,
        protocol: WebSocketProtocol,
        options: ConnectionOptions,
    ) -> None:
        self._sock = sock
        # Bytes that arrived with the handshake, read by the HTTP server.
        self._initial = initial
        self._path = request.path
        # For log lines about this connection's faults; taken now, while the
        # socket is connected (after a reset, getpeername() fails).
        try:
            self._peer: Any = sock.getpeername()
        except OSError:
            self._peer = None
        self.protocol = protocol
        self._options = options
        self._accepted = False  # the 101 was sent
        self._queue = Inbox(options.max_queue, options.max_queue_bytes)
        # True once the client's close frame arrived, or the reader ended;
        # the event is made only for a greenlet that must wait for that.
        self._close_seen = False
        self._close_waiter: Event | None = None
        self._lost = False  # the TCP connection failed under us
        # The protocol's close frame (and EOF) held back while the view takes
        # the messages that came before the client's error, with its timer
        # (see holding.py).
        self._held: tuple[list[bytes], Any] | None = None
        # The callbacks serving the connection once the view returned
        # (detached.py); None while a view serves it.
        self._handler: MessageHandler | None = None
        # What others asked to run when the connection ends (add_cleanup()):
        # None, one callback, or a list of them. One is stored as itself: an
        # idle group member pays for no list.
        self._cleanups: Any = None
        self.opened_at: float | None = None
        self.messages_in = 0
        self.messages_out = 0
        # For the metrics (django_ws.metrics): binary messages among those,
        # bytes of frames read and written, the view's URL name (set by the
        # Django layer).
        self.binary_in = self.binary_out = self.bytes_in = self.bytes_out = 0
        self.view_name = "-"
        #: True when the client sent the first close frame, False when we did.
        self.closed_by_client: bool | None = None
        #: ``request.user`` (lazy), set by the Django layer for the log line.
        self.user: Any = None
        #: The session's key, set by the Django layer: what logout() closes.
        self.session_key: str | None = None
        # Its slot in its user's connection count (django_ws.groups.user_slots).
        self.user_slot: str | None = None

    @property
    def path(self) -> str:
        """The request path, with its query string."""
        return self._path

    @property
    def options(self) -> ConnectionOptions:
        return self._options

    @property
    def accepted(self) -> bool:
        """True once the 101 response was sent."""
        return self._accepted

    @property
    def closed(self) -> bool:
        """True once no more messages can be sent (closing or closed)."""
        return self._lost or self.protocol.state is not _OPEN and self.accepted

    def _first_close(self) -> Close | None:
        # The close frame that started the closing handshake, whichever side
        # sent it: its code says why the connection ended (RFC 6455 7.1.5).
        protocol = self.protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and sent is not None:
            return received if protocol.close_rcvd_then_sent else sent
        return received or sent

    @property
    def close_code(self) -> int | None:
        """The code of the close frame that started the closing; None while open.

        1006 means the TCP connection ended without a close frame.
        """
        close = self._first_close()
        if close is not None:
            return close.code
        if self._lost or self.protocol.state is _CLOSED:
            return CloseCode.ABNORMAL_CLOSURE
        return None

    @property
    def close_reason(self) -> str | None:
        """The reason that goes with :attr:`close_code`."""
        close = self._first_close()
        if close is not None:
            return close.reason
        return "" if self.close_code is not None else None

    def _saw_close(self) -> None:
        self._close_seen = True
        if self._close_waiter is not None:
            self._close_waiter.set()

    def add_cleanup(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(connection)`` once when the connection ends, however it ends.

        How other parts of django_ws tidy up after a connection without the
        core knowing them (``django_ws.groups`` leaves the connection's
        groups). Each callback runs on its own: one that raises is logged
        with the connection, and the others still run.

        Raises:
            WebSocketUsageError: the connection was not accepted.
        """
        if not self._accepted:
            # finish() only ends accepted connections: one the view answers
            # in plain HTTP would never run it.
            raise WebSocketUsageError("add_cleanup() needs an accepted connection")
        cleanups = self._cleanups
        if cleanups is None:
            self._cleanups = callback
        elif type(cleanups) is list:
            cleanups.append(callback)
        else:
            self._cleanups = [cleanups, callback]

    def _run_cleanups(self) -> None:
        cleanups, self._cleanups = self._cleanups, None
        if cleanups is None:
            return
        for callback in cleanups if type(cleanups) is list else (cleanups,):
            self._step(getattr(callback, "__qualname__", "a cleanup"), callback, self)

    def _describe(self) -> str:
        """This connection in a log line: its path (secrets redacted) and its peer."""
        peer = self._peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            peer = f"{peer[0]}:{peer[1]}"
        return f"{redact_target(self._path)} from {peer or '-'}"

    def _step(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """One step of the end of the connection: a failure is logged, not raised,
        so that the steps after it run."""
        try:
            function(*args, **kwargs)
        except Exception:
            logger.exception("error in %s of WebSocket %s", what, self._describe())

    def _lose(self, cause: object) -> None:
        """The connection failed under us: say why, once (a 1006 says nothing)."""
        if not self._lost:
            self._lost = True
            if isinstance(cause, BaseException):
                cause = f"{type(cause).__name__}: {cause}"
            logger.info("WebSocket %s lost: %s", self._describe(), cause)

    def _no_close_answer(self) -> str:
        return (f"no close frame from the client within {self._options.close_timeout}s "
                f"(WEBSOCKET_CLOSE_TIMEOUT)")

    def _abort(self, cause: object = None) -> None:
        """Drop the TCP connection; wakes the reader and any blocked writer.

        Args:
            cause: why, when it is not our decision (logged by _lose()).
        """
        if cause is not None:
            self._lose(cause)
        self._lost = True
        if self._held is not None:
            self._held[1].close()
            self._held = None
        self._queue.close()
        try:
            self._sock.shutdown(stdlib_socket.SHUT_RDWR)
        except OSError:
            pass

    def _closed_error(self) -> ConnectionClosed:
        return ConnectionClosed(self.close_code, self.close_reason or "")

    def _ended_by_client(self) -> bool:
        """Whether the client ended it: its close frame, a lost connection, or
        its protocol error; not the server's own close() (the view's, say).

        A view that meets ConnectionClosed then did nothing wrong: messages
        it iterated were queued before the client's close, and its answer
        found the connection gone. That is the client leaving, not an error
        to log with a traceback.
        """
        return self.closed_by_client is not False
