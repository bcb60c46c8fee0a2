"""The WebSocket connection: what ``request.websocket`` is.

This is the only blocking code in django_ws. Whoever reads the socket feeds
the bytes to the sans-I/O protocol, queues the complete messages, and writes
what the protocol answers (pongs, the closing handshake). Usually that is the
view's own greenlet, inside ``wait()`` and the iteration: a message then goes
from the socket to the view without a switch to another greenlet, and an idle
connection costs one greenlet. When the view stays away from ``wait()`` for
longer than ``_BUSY_AFTER`` (it sleeps, queries, only sends), a reader
greenlet takes over until the view waits again, so that pings are answered,
the close is seen, and ``read()``/``count_messages()`` find what arrived. One
lock makes sure one greenlet reads at a time.

A detached connection (``detach()``, what ``WebSocketView`` does) has no
view waiting: a libev watcher in the hub notices data, and a greenlet lent
for the burst (``django_ws.bursts``) reads it and passes each message to the
handler's ``on_message``. An idle detached connection holds no greenlet.

Writes from any greenlet go through one lock and drain the protocol's output
in the order the protocol produced it, so concurrent ``send()`` calls never
interleave frames and nothing is sent after a close frame (RFC 6455 5.5.1).
"""

from __future__ import annotations

import json
import logging
import socket as stdlib_socket
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from .bursts import run_burst
from .conf import ConnectionOptions
from .exceptions import ConnectionClosed, WebSocketUsageError
from .metrics import counters
from .protocol import Message, WebSocketProtocol, offered_subprotocols
from .redact import redact_target

if TYPE_CHECKING:  # pragma: no cover
    from gevent.socket import socket as GeventSocket

__all__ = [
    "MessageHandler", "WebSocket", "encode_message", "open_connections", "open_handshake",
    "wait_for_detached",
]

logger = logging.getLogger(__name__)
# websockets logs each connection's opening and closing at INFO level; keep
# its own logger name so that its documentation on logging applies as is.
protocol_logger = logging.getLogger("websockets.server")

_OPEN, _CLOSED = State.OPEN, State.CLOSED
_CLOSE, _PONG = Opcode.CLOSE, Opcode.PONG
_READ_SIZE = 65536
#: Payloads from this size on are written beside their frame header
#: (sendmsg) rather than copied into one bytes object with it.
_GATHER_AT = 16384
#: How long the view may stay out of ``wait()`` before a reader greenlet
#: reads for it (answers pings, sees the close, queues messages).
_BUSY_AFTER = 0.05

#: Reads that wait for the socket before trying it, after a read found
#: nothing there (see WebSocket._recv).
_LAZY_READS = 16
#: Reads one callback burst may do before the other connections get their
#: turn (see WebSocket._serve_callbacks).
_BURST_READS = 16
#: How long the close frame of a connection the protocol failed waits for
#: the view to take the valid messages that came before the error (see
#: WebSocket._hold).
_HOLD_FOR = 1.0

#: The accepted, not yet finished connections of this process: what graceful
#: shutdown closes. Weak, so that a leaked handler cannot keep one alive.
open_connections: weakref.WeakSet[WebSocket] = weakref.WeakSet()

#: Connections served by callbacks after their view returned (see
#: WebSocket.detach): no greenlet holds them while they wait, this does.
_detached: set[WebSocket] = set()
#: Set while no detached connection is left: what shutdown waits for.
_none_detached = Event()
_none_detached.set()


class MessageHandler(Protocol):
    """What :meth:`WebSocket.detach` calls (``WebSocketView`` is one)."""

    def on_message(self, message: Message) -> None: ...

    def on_close(self) -> None: ...


def wait_for_detached(timeout: float | None) -> bool:
    """Wait until every detached connection has ended; False on timeout.

    Graceful shutdown: they hold no greenlet of the server's pool, so
    stopping the server does not wait for them.
    """
    return bool(_none_detached.wait(timeout))


def _json_encoder() -> type[json.JSONEncoder]:
    # Django's encoder knows dates, decimals, UUIDs and lazy strings; import
    # it late so that this module works without configured settings.
    from django.core.serializers.json import DjangoJSONEncoder

    return DjangoJSONEncoder


def open_handshake(
    request: Request, options: ConnectionOptions
) -> tuple[WebSocketProtocol, Response]:
    """Check a handshake request; nothing is sent yet.

    The HTTP server already parsed the request: the protocol starts in the
    OPEN state, its parser waiting for frames, and ``accept()`` only checks
    the request and negotiates (RFC 6455 4.2.1, 4.2.2). The 101, or the
    refusal, is written by the caller.

    Returns:
        The protocol and the response to send: a 101 to send when the view
        accepts, or a 4xx explaining what is wrong with the request, to send
        at once instead of running the view.
    """
    protocol = WebSocketProtocol(
        state=_OPEN,
        extensions=options.extensions,
        max_size=options.max_message_size,
        logger=protocol_logger,
    )
    return protocol, protocol.accept(request)


def encode_message(message: Any, *, binary: bool = False) -> tuple[Any, bool]:
    """The payload and frame type for a message, as ``send()`` documents.

    Returns:
        ``(data, text)``: the bytes-like payload, and True for a text frame.

    Raises:
        TypeError: ``message`` is of no type that can be sent.
    """
    if isinstance(message, str):
        return message.encode(), not binary
    if isinstance(message, (bytes, bytearray)):
        return message, False
    if isinstance(message, memoryview):
        if message.itemsize != 1 or not message.c_contiguous:
            return message.tobytes(), False  # the frame length counts bytes, not items
        return message, False
    if isinstance(message, (dict, list)):
        return json.dumps(message, cls=_json_encoder()).encode(), not binary
    raise TypeError(
        f"cannot send {type(message).__name__!r}: expected str, bytes, "
        f"bytearray, memoryview, dict or list"
    )


class _SendTimeout(Exception):
    """The send timeout fired (distinct from the socket's own timeouts)."""


class _MessageQueue:
    """Received messages not read yet.

    The background reader's ``put()`` blocks while the queue is full: the
    reader stops reading the socket and the kernel's window closes on the
    client, instead of the server buffering without limit (a view that never
    reads). The view's own reading only happens when the queue is empty, so
    it adds at most one read's worth of messages and never waits here.
    """

    def __init__(self, maxsize: int) -> None:
        # Made on the first message: an idle connection does not pay for a
        # deque's first block (about 0.6 KiB).
        self._items: deque[Message] | None = None
        self.maxsize = max(1, maxsize)
        self._readable = Event()
        self._writable = Event()
        self._writable.set()
        self._waiters = 0  # greenlets in wait(): only they need _readable set
        self.closed = False

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def put(self, item: Message, *, block: bool) -> None:
        if block:
            while len(self) >= self.maxsize and not self.closed:
                self._writable.clear()  # cleared only while a put() waits
                self._writable.wait()
        if not self.closed:
            if self._items is None:
                self._items = deque()
            self._items.append(item)
            if self._waiters:
                self._readable.set()

    def close(self) -> None:
        """No more messages will come; wake every waiter."""
        self.closed = True
        self._readable.set()
        self._writable.set()

    def get_nowait(self) -> Message | None:
        items = self._items
        if not items:
            return None
        item = items.popleft()
        if not self._writable.is_set() and len(items) < self.maxsize:
            self._writable.set()  # wake the reader waiting in put()
        return item

    def wait(self, timeout: float | None) -> bool:
        """Wait for a message, the close, or a wake-up; False on timeout."""
        if self._items or self.closed:
            return True
        self._readable.clear()
        self._waiters += 1
        try:
            return bool(self._readable.wait(timeout))
        finally:
            self._waiters -= 1

    def wake(self) -> None:
        self._readable.set()


class WebSocket:
    """A WebSocket connection, as ``request.websocket`` in a view.

    Nothing is sent to the client until the view first uses the socket
    (``wait``, ``read``, ``send``, iteration, ``count_messages``,
    ``has_messages``) or calls :meth:`accept`: until then the view may still
    answer with any HTTP response, and the client gets that real status.

    Messages are ``str`` for text frames and ``bytes`` for binary frames.
    """

    # Slots: an idle connection is mostly its objects, and a dict with this
    # many keys would not share them between instances (1.6 KiB each).
    # __dict__ stays available for attributes a project adds.
    __slots__ = (
        "_accepted", "_before_block", "_busy_timer", "_close_received", "_dispatching",
        "_flusher", "_groups", "_handler", "_handover", "_held", "_keeper", "_keepalive",
        "_lazy_reads",
        "_lost", "_on_busy", "_on_end", "_offered", "_options", "_watcher",
        "_options_overridden", "_origin", "_out", "_out_bytes", "_path", "_ping_pending",
        "_peer", "_queue", "_read_lock", "_reader", "_received", "_request", "_response",
        "_initial",
        "_sock", "_write_lock", "closed_by_client", "messages_in", "messages_out", "opened_at",
        "protocol", "user", "__dict__", "__weakref__",
        "_ping_sent", "binary_in", "binary_out", "bytes_in", "bytes_out", "view_name",
    )

    def __init__(
        self,
        *,
        sock: GeventSocket,
        initial: bytes = b"",
        request: Request,
        protocol: WebSocketProtocol,
        response: Response,
        options: ConnectionOptions,
    ) -> None:
        self._sock = sock
        # Bytes that arrived with the handshake, read by the HTTP server.
        self._initial = initial
        # The handshake, kept until the 101 is sent (the view may still change
        # the negotiation); only what the properties below need stays.
        self._request: Request | None = request
        self._response: Response | None = response
        self._path = request.path
        # For log lines about this connection's faults; taken now, while the
        # socket is connected (after a reset, getpeername() fails).
        try:
            self._peer: Any = sock.getpeername()
        except OSError:
            self._peer = None
        self._origin = request.headers.get("Origin")
        self._offered = tuple(offered_subprotocols(request.headers))
        self.protocol = protocol
        self._options = options
        self._options_overridden = False
        self._accepted = False  # the 101 was sent
        self._queue = _MessageQueue(options.max_queue)
        # Set when the client's close frame arrived, or the reader ended.
        self._close_received = Event()
        self._write_lock = Semaphore()
        # Serialized bytes not written yet, in protocol order; the head may be
        # a partly written frame (a memoryview of its rest).
        self._out: list[Any] = []
        self._out_bytes = 0
        # The protocol's close frame (and EOF) held back while the view takes
        # the messages that came before the client's error, with its timer.
        self._held: tuple[list[bytes], Any] | None = None
        self._flusher: gevent.Greenlet[Any, Any] | None = None
        self._groups: set[tuple[str, str]] | None = None  # made by the first join()
        # Reading: one greenlet at a time, under the read lock; the view
        # itself, or the background reader while the view is busy.
        self._read_lock = Semaphore()
        self._reader: gevent.Greenlet[Any, Any] | None = None
        self._handover = False  # the view waits: the background reader should stop
        self._busy_timer: Any = None
        self._on_busy: Callable[[], None] | None = None
        self._before_block: Callable[[], None] | None = None
        self._lost = False  # the TCP connection failed under us
        self._lazy_reads = 0
        # Keepalive state: data arrived since the last tick; a ping is unanswered.
        self._received = False
        self._ping_pending = False
        self._keepalive: Any = None
        # Callback serving (detach()): the handler, the socket's io watcher,
        # the file object that keeps the socket open, whether a greenlet is
        # passing messages to the handler, what to call at the end.
        self._handler: MessageHandler | None = None
        self._watcher: Any = None
        self._keeper: Any = None
        self._dispatching = False
        self._on_end: Callable[[WebSocket], None] | None = None
        self.opened_at: float | None = None
        self.messages_in = 0
        self.messages_out = 0
        # For the metrics (django_ws.metrics): binary messages among those,
        # bytes of frames read and written, the view's URL name (set by the
        # Django layer), the monotonic_ns of the unanswered keepalive ping.
        self.binary_in = self.binary_out = self.bytes_in = self.bytes_out = 0
        self.view_name = "-"
        self._ping_sent: int | None = None
        #: True when the client sent the first close frame, False when we did.
        self.closed_by_client: bool | None = None
        #: ``request.user`` (lazy), set by the Django layer for the log line.
        self.user: Any = None

    # -- what the request offered ------------------------------------------------

    @property
    def path(self) -> str:
        """The request path, with its query string."""
        return self._path

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
        if not self._accepted:
            return self._pending_subprotocol()
        return self.protocol.subprotocol

    def _pending_subprotocol(self) -> str | None:
        offered = self._offered
        return next((p for p in self._options.subprotocols or () if p in offered), None)

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

    @property
    def options(self) -> ConnectionOptions:
        return self._options

    def on_idle(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever the view is about to block for a message."""
        self._before_block = callback

    def configure(self, **changes: Any) -> None:
        """Override options for this connection before it is accepted.

        The decorators call this with their keyword arguments.

        Raises:
            WebSocketUsageError: the handshake was already answered.
        """
        if self._accepted:
            raise WebSocketUsageError("options can only change before the connection is accepted")
        self._options = self._options.replace(**changes)
        self._options_overridden = True
        self._queue.maxsize = max(1, self._options.max_queue)

    # -- state -------------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        """True once the 101 response was sent."""
        return self._accepted

    @property
    def closed(self) -> bool:
        """True once no more messages can be sent (closing or closed)."""
        return self._lost or self.protocol.state is not _OPEN and self.accepted

    def is_closed(self) -> bool:
        """:attr:`closed` as a method, the name dwebsocket gave it."""
        return self.closed

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

    # -- the classic API -----------------------------------------------------------

    def accept(self, subprotocol: str | None = None) -> None:
        """Send the 101 response; a no-op once accepted.

        Args:
            subprotocol: one of :attr:`subprotocols` to agree on (RFC 6455
                4.2.2). By default the first of the decorator's
                ``subprotocols`` that the client offered, else none.

        Raises:
            WebSocketUsageError: ``subprotocol`` was not offered by the
                client, or differs from the one already agreed.
        """
        protocol = self.protocol
        if self._accepted:
            if subprotocol is not None and subprotocol != protocol.subprotocol:
                raise WebSocketUsageError(
                    f"the connection was already accepted with subprotocol "
                    f"{protocol.subprotocol!r}; cannot switch to {subprotocol!r}"
                )
            return
        if subprotocol is None:
            subprotocol = self._pending_subprotocol()
        elif subprotocol not in self._offered:
            raise WebSocketUsageError(
                f"subprotocol {subprotocol!r} was not offered by the client; "
                f"it offered {self.subprotocols!r}"
            )
        response, request = self._response, self._request
        assert response is not None and request is not None  # not accepted yet
        if self._options_overridden:
            # Negotiate again: the view may have changed compression.
            protocol.available_extensions = self._options.extensions
            protocol.max_message_size = self._options.max_message_size
            response = protocol.accept(request)
        if subprotocol is not None:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
            protocol.subprotocol = Subprotocol(subprotocol)
        # Written by us, not protocol.send_response(): the protocol never
        # parsed the request (see open_handshake) and is already OPEN.
        head = response.serialize()
        self._request = self._response = None  # about 2 KiB per connection
        self._queue_output(head)
        self._accepted = True
        self.opened_at = time.monotonic()
        self._busy_timer = gevent.get_hub().loop.timer(_BUSY_AFTER)
        self._on_busy = self._start_background_reader  # bound once, started per message
        self._arm_keepalive(self._options.ping_interval)
        open_connections.add(self)
        # The object is whole before the write that can fail: a client gone
        # meanwhile leaves a closed connection (wait() returns None, send()
        # raises ConnectionClosed), never an error of ours in the view.
        try:
            self._flush(self._options.send_timeout)
        except (ConnectionClosed, TimeoutError):
            pass  # _sendall() dropped the connection
        self.bytes_out = 0  # the 101 is not a frame
        self._view_busy()  # until the view first waits

    def wait(self, timeout: float | None = None) -> Message | None:
        """Block until the next message; None once the connection is closed.

        Raises:
            TimeoutError: no message arrived within ``timeout`` seconds.
        """
        if not self._accepted:
            self.accept()
        return self._next_message(timeout)

    def read(self, fallback: Any = None) -> Any:
        """The oldest queued message, or ``fallback`` if none is queued. Never blocks.

        Args:
            fallback: what to return when no message is queued (dwebsocket's
                ``read(fallback)``); None by default.
        """
        if not self._accepted:
            self.accept()
        self._drain()
        message = self._queue.get_nowait()
        return fallback if message is None else message

    def count_messages(self) -> int:
        """How many received messages are queued, unread."""
        if not self._accepted:
            self.accept()
        self._drain()
        return len(self._queue)

    def has_messages(self) -> bool:
        """Whether a received message is queued, unread."""
        return self.count_messages() > 0

    def __iter__(self) -> Iterator[Message]:
        """Yield messages until the connection closes; never yields None."""
        if not self._accepted:
            self.accept()
        next_message = self._next_message
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
        protocol = self.protocol
        if not self._accepted:
            self.accept()
        data, text = encode_message(message, binary=binary)
        if protocol.state is not _OPEN or self._lost:
            if self._held is None or self._lost:
                raise self._closed_error()
            self._send_before_close(data, text, timeout)
            return
        self.messages_out += 1
        if not text:
            self.binary_out += 1
        head = protocol.frame_head(len(data), text=text)
        if head is None:  # compressed, or logged: websockets frames it
            if text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
        elif self._out or protocol.writes or self._write_lock.locked():
            self._queue_output(head + data)  # behind what is pending, in order
        else:
            # The usual case: nothing else to write and nobody writing. A
            # send on the non-blocking socket never switches greenlets, so no
            # lock is needed for it. A small frame is one bytes object; a
            # large payload goes out beside its header, not copied.
            raw = self._sock._sock
            if len(data) < _GATHER_AT:
                head, data = head + data, b""
            try:
                sent = raw.sendmsg((head, data)) if data else raw.send(head)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._abort(exc)
                raise self._closed_error() from None
            self.bytes_out += sent
            if sent < len(head):
                self._queue_output(head[sent:] + data)
            elif sent - len(head) < len(data):
                self._queue_output(memoryview(data)[sent - len(head):])
            else:
                return
        self._flush(self._options.send_timeout if timeout is None else timeout)

    def join(self, group: str, *, using: str = "default") -> None:
        """Receive the messages broadcast to ``group`` (see ``django_ws.groups``).

        They go straight to the client, not through the view. The connection
        leaves all its groups when it closes, however it closes.
        """
        from .groups import get_backend

        if not self._accepted:
            self.accept()
        get_backend(using).join(group, self)
        if self._groups is None:
            self._groups = set()
        self._groups.add((using, group))

    def leave(self, group: str, *, using: str = "default") -> None:
        """Stop receiving the messages broadcast to ``group``."""
        from .groups import get_backend

        get_backend(using).leave(group, self)
        if self._groups is not None:
            self._groups.discard((using, group))

    @property
    def groups(self) -> list[str]:
        """The groups this connection is in."""
        return sorted(group for _, group in self._groups or ())

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
        protocol = self.protocol
        if not self._accepted:
            self.accept()
        if self._held is not None:
            self._release_held()  # the client's error closes; its close frame goes
        if protocol.state is _OPEN and not self._lost:
            protocol.send_close(code, reason)
            self.closed_by_client = False
            self._queue.close()
            try:
                self._flush(self._options.close_timeout)
            except (ConnectionClosed, TimeoutError):
                pass
        if not self._await_close(self._options.close_timeout):
            # RFC 6455 7.1.1 lets the server drop TCP when the client does
            # not finish the closing handshake.
            self._abort(self._no_close_answer())
        if self._watcher is not None and not self._dispatching:
            self._end_detached()  # else the dispatching greenlet ends it, after the handler

    # -- callback serving (WebSocketView) -----------------------------------------

    def detach(self, handler: MessageHandler) -> None:
        """Serve this connection with ``handler``'s callbacks once the view returns.

        A view that waits for messages keeps its greenlet, and with it its
        Python and C stacks (about 12 KiB), for the connection's whole life.
        Detached, the view returns through Django's middleware as any
        request does; the event loop then watches the socket, and each burst
        of messages goes to ``handler.on_message`` on a greenlet lent for the
        burst (django_ws.bursts), one message after the other, in order.
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
        self, keeper: Any, *, on_end: Callable[[WebSocket], None] | None = None
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
        _detached.add(self)
        _none_detached.clear()
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
        reads = 0
        try:
            while True:
                while (message := queue.get_nowait()) is not None:
                    try:
                        handler.on_message(message)
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
        self._watcher.start(self._on_readable)

    def _end_detached(self) -> None:
        """The end of a detached connection: on_close, then release everything."""
        if self not in _detached:
            return  # ended already
        _detached.discard(self)
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
            if not _detached:
                _none_detached.set()
        if on_end is not None:
            self._step("the end callback", on_end, self)

    # -- internals -------------------------------------------------------------

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

    def _close_quietly(self, code: int) -> None:
        """close(), for our own faults: whatever goes wrong, the TCP connection goes."""
        try:
            self.close(code)
        except Exception:
            logger.exception("error closing WebSocket %s; dropping it", self._describe())
            self._abort()

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
        if not self.accepted:
            return
        if self._held is not None:
            self._release_held()
        if self.protocol.state is _OPEN and not self._lost:
            self._close_quietly(CloseCode.INTERNAL_ERROR if failed else CloseCode.NORMAL_CLOSURE)
        if self._groups:
            for using, group in list(self._groups):
                self._step(f"leave({group!r})", self._leave_group, using, group)
            self._groups.clear()
        for timer in (self._keepalive, self._busy_timer):
            if timer is not None:
                timer.close()
        for greenlet in (self._reader, self._flusher):
            if greenlet is not None and not greenlet.dead:
                greenlet.kill(block=False)
        self._queue.close()
        if self in open_connections:  # once: its counts join the process's totals
            counters.fold(self)
        open_connections.discard(self)

    def _leave_group(self, using: str, group: str) -> None:
        from .groups import get_backend

        get_backend(using).leave(group, self)

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

    def _collect(self, writes: list[bytes] | None = None) -> None:
        # Move what the protocol serialized into our output, in its order.
        if writes is None:
            writes = self.protocol.data_to_send()
        if writes:
            self._out.extend(writes)
            self._out_bytes += sum(map(len, writes))

    def _queue_output(self, frame: bytes | memoryview) -> None:
        # After what the protocol already produced, to keep its order.
        self._collect()
        self._out.append(frame)
        self._out_bytes += len(frame)

    def _flush(self, timeout: float | None) -> None:
        """Write all pending output, in order, under the write lock.

        Blocks up to ``timeout`` seconds in all, waiting for the lock
        included: with ``WEBSOCKET_SEND_TIMEOUT = None``, another greenlet's
        send may wait for a client that reads nothing forever; a close or a
        keepalive ping then drops the connection after its own timeout,
        which ends that send too.

        Raises:
            TimeoutError: the data or the lock did not come in time; the
                connection was dropped.
            ConnectionClosed: the connection failed under the write.
        """
        lock = self._write_lock
        if not lock.acquire(blocking=False):
            started = time.monotonic()
            if not lock.acquire(timeout=timeout):
                self._abort(f"a write stuck for {timeout}s")
                raise TimeoutError(
                    f"another write to the client did not end within {timeout} seconds; "
                    f"the connection was dropped"
                )
            if timeout is not None:
                timeout = max(0.0, timeout - (time.monotonic() - started))
        try:
            out = self._out
            if not out:
                # The usual case: nothing pending, one frame to write.
                writes = self.protocol.data_to_send()
                if len(writes) == 1 and writes[0]:
                    self._sendall(writes[0], timeout)
                else:
                    self._collect(writes)
            while True:
                self._collect()
                if not out:
                    return
                data = out.pop(0)
                self._out_bytes -= len(data)
                if data:
                    self._sendall(data, timeout)
                else:  # SEND_EOF: the server closes TCP first (RFC 6455 7.1.1)
                    try:
                        self._sock.shutdown(stdlib_socket.SHUT_WR)
                    except OSError:
                        pass
        finally:
            lock.release()

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
        protocol = self.protocol
        if protocol.state is not _OPEN or self._lost:
            return False
        if frame is None or protocol.extensions:
            # Compression keeps state per connection: encode it here.
            if text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
        else:
            self._queue_output(frame)
        self.messages_out += 1
        if not text:
            self.binary_out += 1
        return self._send_nowait()

    def _send_nowait(self) -> bool:
        """Write pending output as far as the socket takes it now; never block.

        What is left is written by a background greenlet, unless it exceeds
        ``max_send_buffer``: then the client is too slow and is dropped.

        Returns:
            False if the connection was dropped.
        """
        self._collect()
        if not self._write_lock.locked():  # else the writer drains _out, in order
            self._write_nowait()
        if self._out:
            limit = self._options.max_send_buffer
            if limit is not None and self._out_bytes > limit:
                logger.warning(
                    "dropped slow WebSocket client %s: %d bytes unsent "
                    "(WEBSOCKET_MAX_SEND_BUFFER)", self._describe(), self._out_bytes,
                )
                counters.slow_members_dropped += 1
                self._abort()
                return False
            if self._flusher is None or self._flusher.dead:
                self._flusher = gevent.spawn(self._flush_in_background)
        return True

    def _write_nowait(self) -> None:
        # raw.send() on the non-blocking socket never switches greenlets, so
        # this runs whole, and a partly written frame stays at the head.
        raw = self._sock._sock
        out = self._out
        while out:
            data = out[0]
            if not data:
                return  # EOF: left to _flush(), after everything else
            try:
                sent = raw.send(data)
            except BlockingIOError:
                return
            except OSError as exc:
                self._abort(exc)
                return
            self._out_bytes -= sent
            self.bytes_out += sent
            if sent < len(data):
                out[0] = memoryview(data)[sent:]
                return
            out.pop(0)

    def _flush_in_background(self) -> None:
        try:
            self._flush(self._options.send_timeout)
        except (ConnectionClosed, TimeoutError):
            pass  # _sendall() dropped the connection and logged nothing worth more

    def _sendall(self, data: bytes | memoryview, timeout: float | None) -> None:
        self.bytes_out += len(data)
        sock = self._sock
        raw = sock._sock  # the non-blocking stdlib socket under gevent's
        try:
            try:
                sent = raw.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):  # the usual case: the kernel took it all
                return
            # A slow reader: wait for room, up to the send timeout for the
            # whole message. gevent's send() waits on the socket's own
            # watcher, which closing the socket cancels; its timeout is the
            # reader's keepalive tick, so it only means "still waiting".
            view = memoryview(data)[sent:]
            with gevent.Timeout(timeout, _SendTimeout):
                while view:
                    try:
                        view = view[sock.send(view):]
                    except TimeoutError:
                        pass
        except _SendTimeout:
            self._abort(f"the client did not read {len(data)} bytes within {timeout}s "
                        f"(WEBSOCKET_SEND_TIMEOUT)")
            raise TimeoutError(
                f"the client did not read {len(data)} bytes within {timeout} seconds; "
                f"the connection was dropped (WEBSOCKET_SEND_TIMEOUT)"
            ) from None
        except OSError as exc:
            self._abort(exc)
            raise self._closed_error() from None

    # -- reading -------------------------------------------------------------

    def _next_message(self, timeout: float | None) -> Message | None:
        """What ``wait()`` and the iteration return; reads inline if it may."""
        queue = self._queue
        message = queue.get_nowait()
        if message is not None:
            return message  # the view stays busy: no timer to move
        if self._held is not None:
            self._release_held()  # the view took what came before the error
        self._busy_timer.stop()
        try:
            if self._before_block is not None:
                self._before_block()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                if queue.closed:
                    return queue.get_nowait()  # what is left, then None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no WebSocket message within {timeout} seconds")
                if self._read_lock.acquire(blocking=False):
                    try:
                        self._receive(True, remaining, False)  # block, timeout, backpressure
                        message = queue.get_nowait()
                        if message is not None:
                            return message
                    except TimeoutError:
                        raise TimeoutError(
                            f"no WebSocket message within {timeout} seconds"
                        ) from None
                    finally:
                        self._read_lock.release()
                else:
                    # The background reader (or a closing greenlet) reads:
                    # ask it to hand the socket back, and wait for what it
                    # queues meanwhile.
                    self._handover = True
                    if not queue.wait(remaining) and deadline is not None:
                        raise TimeoutError(f"no WebSocket message within {timeout} seconds")
                    message = queue.get_nowait()
                    if message is not None:
                        return message
        finally:
            self._view_busy()

    def _view_busy(self) -> None:
        # The view goes off to do other things; if it stays away, a reader
        # greenlet will read for it. Detached, the event loop reads.
        if not self._queue.closed and self._busy_timer is not None and self._handler is None:
            self._busy_timer.start(self._on_busy)

    def _start_background_reader(self) -> None:
        # A timer callback, in the hub: must not block. A reader that was
        # asked to hand over but has not yet (it waits for data) keeps going.
        self._handover = False
        if self._reader is None and not self._queue.closed:
            self._reader = gevent.spawn(self._read_in_background)

    def _read_in_background(self) -> None:
        try:
            with self._read_lock:
                while not self._handover:
                    if not self._receive(block=True, timeout=None, backpressure=True):
                        break
        finally:
            self._reader = None
            self._queue.wake()  # a waiting view takes over the reading

    def _drain(self) -> None:
        """Process what already arrived, without blocking (read(), count...)."""
        if self._read_lock.acquire(blocking=False):
            try:
                while self._receive(block=False, timeout=None, backpressure=False):
                    pass
            finally:
                self._read_lock.release()

    def _await_close(self, timeout: float | None) -> bool:
        """Wait for the client's close frame, reading if nobody else does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._close_received.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if self._read_lock.acquire(blocking=False):
                try:
                    if not self._receive(block=True, timeout=remaining, backpressure=False):
                        break
                except TimeoutError:
                    return False
                finally:
                    self._read_lock.release()
            else:
                self._close_received.wait(remaining)
        return bool(self._close_received.is_set())

    def _receive(self, block: bool, timeout: float | None, backpressure: bool) -> bool:
        """Read once, feed the protocol, queue messages, send its answers.

        The caller holds the read lock.

        Returns:
            False when nothing more will come: no data without ``block``, the
            end of the connection, or its close.

        Raises:
            TimeoutError: ``timeout`` expired with no data (the view's wait).
        """
        protocol = self.protocol
        if protocol.state is _CLOSED or self._lost:
            self._end_of_input()
            return False
        data = self._recv(block, timeout)
        if data is None:
            return False  # nothing yet
        self._received = True  # for the keepalive: the peer is alive
        self.bytes_in += len(data)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events: list[Any] = protocol.events_received()
        # `writes` is the protocol's output buffer: checking it saves
        # taking the write lock for the many frames that need no answer.
        if protocol.writes:
            if self._failed_after_messages(events):
                self._hold()
            else:
                try:
                    self._flush(self._options.send_timeout)
                except (ConnectionClosed, TimeoutError):
                    pass  # _sendall() dropped the connection
        queue = self._queue
        for event in events:
            if type(event) is str or type(event) is bytes:
                self.messages_in += 1
                if type(event) is bytes:
                    self.binary_in += 1
                queue.put(event, block=backpressure)
            elif event.opcode is _PONG and self._ping_sent is not None:
                self._match_pong(event.data)
            elif event.opcode is _CLOSE:
                if self.closed_by_client is None:
                    self.closed_by_client = True
                queue.close()
                self._close_received.set()
        if protocol.state is _CLOSED or self._lost or not data:
            # Not after we failed the connection: the protocol then ignores
            # the client's close frame, and EOF is the expected end.
            if (not data and protocol.close_rcvd is None and not self._lost
                    and (protocol.close_sent is None or self.closed_by_client is False)):
                self._lose("the client closed TCP without a close frame")
            self._end_of_input()
            return False
        return True

    def _failed_after_messages(self, events: list[Any]) -> bool:
        """Whether the protocol just failed the connection for an error of the
        client's that came after valid messages, in the same read."""
        protocol = self.protocol
        return (
            self._held is None and protocol.close_sent is not None
            and protocol.close_rcvd is None and self.closed_by_client is None
            # Compressed frames need the protocol, which sends nothing once
            # closing: the close goes out at once, as before.
            and not protocol.extensions
            and any(type(event) is str or type(event) is bytes for event in events)
        )

    def _hold(self) -> None:
        """Hold the protocol's close frame until the view took the messages.

        The client sent valid messages, then an error (RFC 6455 7.1.7: the
        connection is failed). The messages were valid: the view gets them
        first, and what it sends in answer goes out before the close frame,
        as if the error had come in a later read (Autobahn's strict verdict
        for cases 3.2, 3.3, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15). The close goes as soon as
        the view waits with nothing queued, closes, ends, or after
        ``_HOLD_FOR`` seconds, whichever comes first.
        """
        timer = gevent.get_hub().loop.timer(_HOLD_FOR)
        self._held = (self.protocol.data_to_send(), timer)
        timer.start(self._release_held)

    def _release_held(self) -> None:
        # Never blocks: also the timer's callback, in the hub.
        held, self._held = self._held, None
        if held is None:
            return
        writes, timer = held
        timer.close()
        self._collect(writes)
        self._send_nowait()

    def _send_before_close(self, data: Any, text: bool, timeout: float | None) -> None:
        # send() while the close frame is held: frame the message ourselves
        # (the protocol refuses once closing), queued before that frame.
        frame = Frame(Opcode.TEXT if text else Opcode.BINARY, bytes(data))
        self._queue_output(frame.serialize(mask=False, extensions=[]))
        self.messages_out += 1
        if not text:
            self.binary_out += 1
        self._flush(self._options.send_timeout if timeout is None else timeout)

    def _end_of_input(self) -> None:
        self._queue.close()
        self._close_received.set()
        if self._busy_timer is not None:
            self._busy_timer.stop()

    def _recv(self, block: bool, timeout: float | None) -> bytes | None:
        """Bytes from the socket: b"" at EOF or on a dead connection; None if
        none arrived yet (without ``block``).

        While the connection is open, a blocking read has no socket timeout
        (gevent would start a timer for every read): the keepalive timer
        watches for silence. Once closing, the close timeout bounds it.

        Raises:
            TimeoutError: ``timeout`` expired (the view's ``wait(timeout)``).
        """
        sock = self._sock
        if self._initial:
            initial, self._initial = self._initial, b""
            return initial
        if self.protocol.state is not _OPEN:
            # Waiting for the client's close or EOF: at most the close
            # timeout, and no longer than the caller's deadline (what is left
            # of close()'s close timeout), so that data the client keeps
            # sending cannot stretch the wait.
            close_timeout = self._options.close_timeout
            if timeout is None or close_timeout is not None and close_timeout < timeout:
                timeout = close_timeout
            closing = True
        else:
            closing = False
        if not block:
            timeout = None  # the raw socket never blocks: no timeout to set
        if timeout is not None:
            sock.settimeout(timeout)
        raw = sock._sock  # the non-blocking stdlib socket under gevent's
        try:
            data: bytes
            if not block:
                data = raw.recv(_READ_SIZE)
                return data
            # Whether the client's bytes are already there when the view
            # comes to read depends on the traffic. Reading first costs a
            # failed recv() (a raised BlockingIOError, about 1 µs) when they
            # are not; waiting first costs a trip through the event loop
            # (about 2 µs) when they are. Read first while it works; after a
            # miss, wait first for the next _LAZY_READS reads, then try again.
            # Inline, not in a helper: each Python frame here is kept for the
            # connection's whole life (see django_ws.callchain).
            if self._lazy_reads:
                self._lazy_reads -= 1
            else:
                try:
                    data = raw.recv(_READ_SIZE)
                    return data
                except BlockingIOError:
                    self._lazy_reads = _LAZY_READS
            while True:
                # gevent's own wait: on the socket's watcher, with its
                # timeout, and cancelled when the socket is closed.
                sock._wait(sock._read_event)
                try:
                    data = raw.recv(_READ_SIZE)
                except BlockingIOError:
                    continue  # woken without data
                if len(data) == _READ_SIZE:
                    self._lazy_reads = 0  # a large message streams in: more is there
                return data
        except (BlockingIOError, TimeoutError):
            if not block:
                return None
            if closing:
                self._lose(self._no_close_answer())
                return b""
            raise TimeoutError from None
        except OSError as exc:
            self._lose(exc)
            return b""
        finally:
            if timeout is not None:
                sock.settimeout(None)

    # -- keepalive -------------------------------------------------------------

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

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.accepted else "pending"
        return f"<WebSocket {self.path!r} {state}>"

