"""``WebSocket``: what ``request.websocket`` is.

The classic API of django-websocket and dwebsocket (``wait()``, ``read()``,
``count_messages()``, ``has_messages()``, ``send()``, iteration), and the
connection's life: the 101, the close, the end that always runs to its end.
The jobs with their own state are objects it holds (see the package
docstring): the link (the TCP connection), the reader, the writer, the
keepalive, the message rate, the detached serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from ..encoding import ENVELOPE_HEAD, encode_message, plain_text
from ..exceptions import WebSocketUsageError
from ..options import ConnectionOptions
from ..protocol import Message, WebSocketProtocol
from . import counters
from .detached import DetachedServing, MessageHandler
from .handshake import Handshake
from .inbox import Inbox
from .keepalive import Keepalive
from .link import Link
from .memberships import group_backend, leave_all
from .ratelimit import MessageRate
from .reading import Reader
from .registry import open_connections
from .writing import Writer

if TYPE_CHECKING:  # pragma: no cover
    from gevent.socket import socket as GeventSocket

__all__ = ["WebSocket"]

logger = logging.getLogger("django_ws.connection")

_OPEN = State.OPEN


class WebSocket:
    """A WebSocket connection, as ``request.websocket`` in a view.

    Nothing is sent to the client until the view first uses the socket
    (``wait``, ``read``, ``send``, iteration, ``count_messages``,
    ``has_messages``) or calls :meth:`accept`: until then the view may still
    answer with any HTTP response, and the client gets that real status.

    Messages are ``str`` for text frames and ``bytes`` for binary frames.
    """

    # Slots: an idle connection is mostly its objects, and a dict would not
    # share its keys between instances. __dict__ stays available for
    # attributes a project adds.
    __slots__ = (
        "_accepted", "_cleanups", "_detached", "_groups", "_handshake", "_inbox", "_keepalive",
        "_link", "_offered", "_options", "_origin", "_reader", "_writer", "opened_at", "protocol",
        "session_key", "user", "user_slot", "view_name", "__dict__", "__weakref__",
    )

    def __init__(
        self,
        *,
        sock: GeventSocket,
        request: Request,
        protocol: WebSocketProtocol,
        response: Response,
        options: ConnectionOptions,
        initial: bytes = b"",
    ) -> None:
        self.protocol = protocol
        self._options = options
        # Until the 101: the request and the response (handshake.py).
        self._handshake: Handshake | None = Handshake(request, response)
        self._origin = self._handshake.origin
        self._offered = self._handshake.offered
        self._accepted = False  # the 101 was sent
        inbox = self._inbox = Inbox(options.max_queue, options.max_queue_bytes)
        link = self._link = Link(sock, request.path, protocol, inbox)
        writer = self._writer = Writer(link, protocol, options)
        self._keepalive = Keepalive(link, protocol, writer)
        # `initial`: bytes that arrived with the handshake, read by the HTTP server.
        self._reader = Reader(link, initial, protocol, inbox, writer, self._keepalive, options)
        # The callbacks serving the connection once the view returned.
        self._detached: DetachedServing | None = None
        # What others asked to run when the connection ends (add_cleanup()):
        # None, one callback, or a list of them. One is stored as itself: an
        # idle group member pays for no list.
        self._cleanups: Any = None
        self._groups: set[tuple[str, str]] | None = None  # (alias, group), by the first join()
        self.opened_at: float | None = None
        # Set by the Django layer: the view's URL name (metrics), request.user
        # (lazy; the log line), the session's key (what logout() closes), the
        # slot in its user's connection count (django_ws.user_caps).
        self.view_name = "-"
        self.user: Any = None
        self.session_key: str | None = None
        self.user_slot: str | None = None

    # -- what it is ---------------------------------------------------------

    @property
    def path(self) -> str:
        """The request path, with its query string."""
        return self._link.path

    @property
    def options(self) -> ConnectionOptions:
        return self._options

    @property
    def origin(self) -> str | None:
        """The ``Origin`` header (RFC 6454), None for most non-browser clients."""
        return self._origin

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self._offered)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, if any.

        Before the 101 is sent: the one it will agree on, the first of the
        view's ``subprotocols`` that the client offered.
        """
        if self._handshake is not None:
            return self._handshake.agreed_subprotocol(self._options)
        return self.protocol.subprotocol

    @property
    def accepted(self) -> bool:
        """True once the 101 response was sent."""
        return self._accepted

    @property
    def closed(self) -> bool:
        """True once no more messages can be sent (closing or closed)."""
        return self._link.lost or self.protocol.state is not _OPEN and self._accepted

    def is_closed(self) -> bool:
        """:attr:`closed` as a method, the name dwebsocket gave it."""
        return self.closed

    @property
    def detached(self) -> bool:
        """True when :meth:`detach` handed the connection to callbacks (until it ended)."""
        return self._detached is not None and self._detached.handler is not None

    @property
    def closed_by_client(self) -> bool | None:
        """True when the client sent the first close frame, False when we did."""
        return self._link.closed_by_client

    @property
    def close_code(self) -> int | None:
        """The code of the close frame that started the closing; None while open.

        1006 means the TCP connection ended without a close frame.
        """
        return self._link.close_code()

    @property
    def close_reason(self) -> str | None:
        """The reason that goes with :attr:`close_code`."""
        close = self._link.first_close()
        if close is not None:
            return close.reason
        return "" if self.close_code is not None else None

    @property
    def user_label(self) -> str:
        """The user, for logs: a user name, "anonymous", or "-" without auth."""
        user = self.user
        if user is None:
            return "-"
        try:
            if not user.is_authenticated:
                return "anonymous"
            return str(user.get_username())
        except Exception:  # a broken session must not break the log line
            return "?"

    # The counts, for the log line and the metrics; kept by who does the work.
    messages_in = property(lambda self: self._reader.messages_in)
    binary_in = property(lambda self: self._reader.binary_in)
    bytes_in = property(lambda self: self._reader.bytes_in)
    messages_out = property(lambda self: self._writer.messages_out)
    binary_out = property(lambda self: self._writer.binary_out)
    bytes_out = property(lambda self: self._writer.bytes_out)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.accepted else "pending"
        return f"<WebSocket {self.path!r} {state}>"

    # -- the handshake ------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Override options for this connection before it is accepted.

        The decorators call this with their keyword arguments.

        Raises:
            WebSocketUsageError: the handshake was already answered.
        """
        if self._handshake is None:
            raise WebSocketUsageError("options can only change before the connection is accepted")
        options = self._options = self._options.replace(**changes)
        self._handshake.options_changed = True
        self._inbox.maxsize = max(1, options.max_queue)
        self._inbox.maxbytes = options.max_queue_bytes
        self._reader.options = self._writer.options = options

    def accept(self, subprotocol: str | None = None) -> None:
        """Send the 101 response; a no-op once accepted.

        Args:
            subprotocol: one of ``subprotocols`` to agree on (RFC 6455
                4.2.2). By default the first of the decorator's
                ``subprotocols`` that the client offered, else none.

        Raises:
            WebSocketUsageError: ``subprotocol`` was not offered by the
                client, or differs from the one already agreed.
        """
        protocol, options = self.protocol, self._options
        if self._accepted:
            if subprotocol is not None and subprotocol != protocol.subprotocol:
                raise WebSocketUsageError(
                    f"the connection was already accepted with subprotocol "
                    f"{protocol.subprotocol!r}; cannot switch to {subprotocol!r}"
                )
            return
        writer, handshake = self._writer, self._handshake
        assert handshake is not None  # kept until accepted
        writer.queue_output(handshake.response_head(protocol, options, subprotocol))
        self._handshake = None
        self._accepted = True
        self.opened_at = time.monotonic()
        if options.message_rate is not None:
            self._reader.rate = MessageRate(options.message_rate, options.message_burst,
                                            options.rate_limit_close)
        self._keepalive.start(options.ping_interval, options.ping_timeout)
        open_connections.add(self)
        # The object is whole before the write that can fail: a client gone
        # meanwhile leaves a closed connection (wait() returns None, send()
        # raises ConnectionClosed), never an error of ours in the view.
        writer.flush_quietly(options.send_timeout)
        writer.bytes_out = 0  # the 101 is not a frame
        self._reader.start()

    # -- messages -----------------------------------------------------------

    def on_idle(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever the view is about to block for a message."""
        self._reader.on_idle = callback

    def wait(self, timeout: float | None = None) -> Message | None:
        """Block until the next message; None once the connection is closed.

        Raises:
            TimeoutError: no message arrived within ``timeout`` seconds.
        """
        if not self._accepted:
            self.accept()
        return self._reader.next_message(timeout)

    def read(self, fallback: Any = None) -> Any:
        """The oldest queued message, or ``fallback`` if none is queued. Never blocks.

        Args:
            fallback: what to return when no message is queued (dwebsocket's
                ``read(fallback)``); None by default.
        """
        if not self._accepted:
            self.accept()
        self._reader.drain()
        message = self._inbox.get_nowait()
        return fallback if message is None else message

    def count_messages(self) -> int:
        """How many received messages are queued, unread."""
        if not self._accepted:
            self.accept()
        self._reader.drain()
        return len(self._inbox)

    def has_messages(self) -> bool:
        """Whether a received message is queued, unread."""
        return self.count_messages() > 0

    def __iter__(self) -> Iterator[Message]:
        """Yield messages until the connection closes; never yields None."""
        if not self._accepted:
            self.accept()
        next_message = self._reader.next_message
        while (message := next_message(None)) is not None:
            yield message

    def send(self, message: Any, *, binary: bool = False, timeout: float | None = None) -> None:
        """Send one message.

        Args:
            message: ``str`` is sent as a text frame; ``bytes``,
                ``bytearray`` and ``memoryview`` as a binary frame; a ``dict``
                or ``list`` as JSON text (Django's JSON encoder).
            binary: send a ``str`` or JSON as a binary frame instead.
            timeout: seconds the client may take to take the data, default
                ``WEBSOCKET_SEND_TIMEOUT``; past it the connection is
                dropped, since a half-written frame cannot be taken back.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: ``message`` is of another type.
            TimeoutError: the client did not take the data in time.
        """
        if not self._accepted:
            self.accept()
        data, text = encode_message(message, binary=binary)
        if text and data.startswith(ENVELOPE_HEAD):
            data = plain_text(data)  # never read as a group envelope
        writer, link = self._writer, self._link
        if self.protocol.state is not _OPEN or link.lost:
            if writer.held is None or link.lost:
                raise link.closed_error()
            writer.send_before_close(data, text, timeout)
            return
        writer.send(data, text, timeout)

    def deliver(self, frame: bytes | None, data: bytes, *, text: bool) -> bool:
        """Queue a group message and write what the socket takes now, never blocking.

        The broadcast fast path: ``frame`` is the message already serialized
        (one serialization for all the members without an extension), or
        None. What the client does not take at once is written by a
        background greenlet; past ``max_send_buffer`` bytes unsent the client
        is too slow and is disconnected, so that a slow member can neither
        make the broadcaster wait nor grow the server's memory.

        Returns:
            False if the connection is closed or was just dropped.
        """
        if self.protocol.state is not _OPEN or self._link.lost:
            return False
        return self._writer.deliver(frame, data, text)

    # -- groups -------------------------------------------------------------

    def join(self, group: str, *, using: str = "default", recover: bool = False,
             since: str | None = None, presence: Any = None,
             latest: bool = False) -> bool | None:
        """Receive the messages broadcast to ``group`` (see ``django_ws.groups``).

        They go straight to the client, not through the view. The connection
        leaves all its groups when it closes, however it closes. With
        ``recover``, ``since`` or ``presence``, the client gets JSON envelopes
        for this group (``django_ws.groups.envelopes``): first whether what
        it missed after ``since`` (default with ``recover``: the position the
        client sent in ``?django_ws_since=``) could be recovered, then those
        messages, then the live ones, each with its position. ``presence``:
        True lists the request's user in ``presence(group)``, a dict lists
        that info. ``latest``: the newest message of the group's history is
        sent right after the join (for an envelope member, an envelope with
        ``"latest": true``, unless the recovery replayed it). Returns None for
        a plain join, else whether the client got everything after ``since``
        (``recovered``).
        """
        if not self._accepted:
            self.accept()
        recovered: bool | None = group_backend(using).join(group, self, recover=recover,
                                                           since=since, presence=presence,
                                                           latest=latest)
        if self._groups is None:
            self._groups = set()
            # The function, not a bound method: nothing more per member.
            self.add_cleanup(WebSocket._leave_groups)
        self._groups.add((using, group))
        return recovered

    def leave(self, group: str, *, using: str = "default") -> None:
        """Stop receiving the messages broadcast to ``group``."""
        group_backend(using).leave(group, self)
        if self._groups is not None:
            self._groups.discard((using, group))

    def _leave_groups(self) -> None:
        # The cleanup the first join() registered.
        joined, self._groups = self._groups or set(), None
        leave_all(self, joined, self._link.step)

    @property
    def groups(self) -> list[str]:
        """The groups this connection is in."""
        return sorted(group for _, group in self._groups or ())

    # -- detached serving ---------------------------------------------------

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
        self._detached = DetachedServing(self, handler, self._link, self._inbox, self._reader,
                                         self._writer)
        self._reader.detach()

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
        assert self._detached is not None  # detach() was called
        self._detached.serve(self, keeper, on_end)

    # -- the end ------------------------------------------------------------

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str | bytes = "") -> None:
        """Start the closing handshake and wait for the client's answer.

        Waits up to the close timeout for the client's close frame (RFC 6455
        7.1.2), then returns; the TCP connection is dropped when the view
        returns. A no-op once closed. Closing a connection that was never
        accepted accepts it first, so the client sees a proper close frame.

        Args:
            code: the close code (RFC 6455 7.4).
            reason: ``str``, or ``bytes`` in UTF-8 as dwebsocket took it
                (RFC 6455 5.5.1: the reason is UTF-8 text).

        Raises:
            websockets.exceptions.ProtocolError: ``code`` is not one a
                server may send (RFC 6455 7.4).
            UnicodeDecodeError: a ``bytes`` reason is not UTF-8.
        """
        if isinstance(reason, (bytes, bytearray, memoryview)):
            reason = bytes(reason).decode()
        protocol, link, writer = self.protocol, self._link, self._writer
        if not self._accepted:
            self.accept()
        if writer.held is not None:
            writer.release_held()  # the client's error closes; its close frame goes
        close_timeout = self._options.close_timeout
        if protocol.state is _OPEN and not link.lost:
            protocol.send_close(code, reason)
            link.closed_by_client = False
            self._inbox.close()
            writer.flush_quietly(close_timeout)
        if not self._reader.await_close(close_timeout):
            # RFC 6455 7.1.1 lets the server drop TCP when the client does
            # not finish the closing handshake.
            link.abort(f"no close frame from the client within {close_timeout}s "
                       f"(WEBSOCKET_CLOSE_TIMEOUT)")
        if self._detached is not None:
            self._detached.after_close(self)

    def _close_quietly(self, code: int) -> None:
        """close(), for our own faults: whatever goes wrong, the TCP connection goes."""
        try:
            self.close(code)
        except Exception:
            logger.exception("error closing WebSocket %s; dropping it", self._link.describe())
            self._link.abort()

    def finish(self, *, failed: bool) -> None:
        """End the connection after the view returned; called by the handler.

        Closes with 1000, or 1011 when the view raised (RFC 6455 7.4.1), if
        the view did not close it. The handler then closes the socket: the
        server drops TCP first (RFC 6455 7.1.1), so the reader, which may be
        waiting for the client's end of TCP, is stopped.

        Never raises: a step that fails (a Redis error while leaving a group)
        is logged with the connection's path and peer, and the steps after it
        run, so that no timer, greenlet or registry entry outlives the
        connection.
        """
        if not self._accepted:
            return
        if self._writer.held is not None:
            self._writer.release_held()
        if self.protocol.state is _OPEN and not self._link.lost:
            self._close_quietly(CloseCode.INTERNAL_ERROR if failed else CloseCode.NORMAL_CLOSURE)
        self._run_cleanups()  # leaving its groups, say (add_cleanup())
        self._keepalive.stop()
        if self._reader.rate is not None:
            self._reader.rate.stop()
        self._reader.stop()
        self._writer.stop()
        self._inbox.close()
        # Nothing may keep the connection in a reference cycle: the last
        # reference gone, it is freed at once (its buffers, its inbox), not
        # at the next full collection of the cyclic GC.
        self._inbox.drop()
        if self in open_connections:  # once: its counts join the process's totals
            counters.fold(self)
        open_connections.discard(self)

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
            self._link.step(getattr(callback, "__qualname__", "a cleanup"), callback, self)

    # -- for the layers above (log lines) -------------------------------------

    def _describe(self) -> str:
        """This connection in a log line: its path (secrets redacted) and its peer."""
        return self._link.describe()

    def _ended_by_client(self) -> bool:
        """Whether the client ended it (see ``Link.ended_by_client``)."""
        return self._link.ended_by_client()
