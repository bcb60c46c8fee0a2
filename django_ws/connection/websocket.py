"""``WebSocket``: what ``request.websocket`` is, the public API.

The classic API of django-websocket and dwebsocket (``wait()``, ``read()``,
``count_messages()``, ``has_messages()``, ``send()``, iteration), on the
layers below it (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..encoding import ENVELOPE_HEAD, encode_message, plain_text
from ..exceptions import WebSocketUsageError
from ..protocol import Message
from .base import _OPEN
from .detached import Detached

__all__ = ["WebSocket", "use_group_backends"]

#: How join() and leave() find a groups backend by alias. The groups layer
#: (django_ws.groups, above this core) passes its get_backend() in when it
#: is imported, which the app's ready() does: the core imports nothing of it.
_group_backends: list[Callable[[str], Any]] = []


def use_group_backends(get_backend: Callable[[str], Any]) -> None:
    """Called by ``django_ws.groups``: where ``join()``/``leave()`` find backends."""
    _group_backends[:] = [get_backend]


def _group_backend(using: str) -> Any:
    if not _group_backends:
        raise WebSocketUsageError(
            "join() and leave() need django_ws's groups: add 'django_ws' to "
            "INSTALLED_APPS (or import django_ws.groups)"
        )
    return _group_backends[0](using)


def _leave(using: str, group: str, websocket: WebSocket) -> None:
    _group_backend(using).leave(group, websocket)

#: Payloads from this size on are written beside their frame header
#: (sendmsg) rather than copied into one bytes object with it.
_GATHER_AT = 16384


class WebSocket(Detached):
    """A WebSocket connection, as ``request.websocket`` in a view.

    Nothing is sent to the client until the view first uses the socket
    (``wait``, ``read``, ``send``, iteration, ``count_messages``,
    ``has_messages``) or calls :meth:`accept`: until then the view may still
    answer with any HTTP response, and the client gets that real status.

    Messages are ``str`` for text frames and ``bytes`` for binary frames.
    """

    # __dict__ stays available for attributes a project adds.
    __slots__ = ("_groups", "__dict__", "__weakref__")

    def __init__(self, *, initial: bytes = b"", **kwargs: Any) -> None:
        super().__init__(initial=initial, **kwargs)
        self._groups: set[tuple[str, str]] | None = None  # made by the first join()

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

    def is_closed(self) -> bool:
        """:attr:`closed` as a method, the name dwebsocket gave it."""
        return self.closed

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
        if text and data.startswith(ENVELOPE_HEAD):
            data = plain_text(data)  # never read as a group envelope
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
            # The usual case: nothing else to write and nobody writing, so
            # no lock is needed (see _write_now). A small frame is one bytes
            # object; a large payload goes out beside its header, not copied.
            if len(data) < _GATHER_AT:
                head, data = head + data, b""
            sent = self._write_now(head, data)
            if sent < 0:
                raise self._closed_error()
            if sent < len(head):
                self._queue_output(head[sent:] + data)
            elif sent - len(head) < len(data):
                self._queue_output(memoryview(data)[sent - len(head):])
            else:
                return
        self._flush(self._options.send_timeout if timeout is None else timeout)

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
        recovered: bool | None = _group_backend(using).join(group, self, recover=recover,
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
        _group_backend(using).leave(group, self)
        if self._groups is not None:
            self._groups.discard((using, group))

    def _leave_groups(self) -> None:
        # The cleanup the first join() registered: leave every group, each
        # on its own (a Redis error in one must not keep the connection in
        # the others).
        groups, self._groups = self._groups or set(), None
        for using, group in sorted(groups):
            self._step(f"leave({group!r})", _leave, using, group, self)

    @property
    def groups(self) -> list[str]:
        """The groups this connection is in."""
        return sorted(group for _, group in self._groups or ())

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.accepted else "pending"
        return f"<WebSocket {self.path!r} {state}>"
