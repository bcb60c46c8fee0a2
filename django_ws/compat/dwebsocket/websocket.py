"""``request.websocket`` with dwebsocket 0.5.12's semantics, on django_ws's connection.

A thin adapter over the public API of :class:`django_ws.connection.WebSocket`
(``accept``, ``wait``, ``read``, ``send``, ``close``, ``closed``, ...): the
framing, limits, keepalive, origin check and groups stay django_ws's. What it
changes is what a dwebsocket view sees, as measured on dwebsocket 0.5.12
(``compliance/dwebsocket_0.5.12.json``) and as its source does it
(``dwebsocket/backends/default/websocket.py``, ``protocols.py``):

- Every message is ``bytes`` (0.5.12 queued frame payloads as they came).
- The client's close frame is queued as one ``None``: ``wait()`` returns it,
  the iteration yields it before it ends, ``count_messages()`` counts it,
  ``has_messages()`` is True for it and ``read()`` returns it (not the
  fallback).
- ``count_messages()`` and ``has_messages()`` take at most one more message
  from the connection per call, as 0.5.12 read at most one frame per call.
- ``send()`` sends ``str`` and UTF-8 ``bytes`` as text frames, never raises
  once the connection is closed, and does nothing then.
- ``wait(timeout)`` returns None on timeout.

Deliberately different (README, "Migrating from dwebsocket"): bytes that are
not UTF-8 go out as a binary frame, not as an invalid text frame; once the
close's ``None`` was taken, reading returns None (the fallback, False, 0)
where 0.5.12 raised ``EOFError`` (once the client's end of TCP had come).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gevent
from websockets.frames import CloseCode

from ...exceptions import ConnectionClosed, ViewAbandoned

if TYPE_CHECKING:  # pragma: no cover
    from ...connection import WebSocket as NativeWebSocket

__all__ = ["WebSocket"]

#: An idle poll's first sleep, and the longest (see WebSocket._found_nothing).
_POLL_SLEEP, _POLL_MAX = 0.001, 0.05
#: Nones a view may still get for a close already reported before it is ended
#: (ViewAbandoned): with the sleeps above, about five seconds of polling.
_POLLS_AFTER_CLOSE = 100


def _as_bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


class WebSocket:
    """dwebsocket's ``request.websocket`` (``DefaultWebSocket``), on a django_ws connection.

    Names that dwebsocket did not have (``join``, ``leave``, ``groups``,
    ``path``, ``subprotocol``, ``close_code``, ...) are those of the django_ws
    connection, :attr:`native`.
    """

    def __init__(self, websocket: NativeWebSocket) -> None:
        self._websocket = websocket
        # dwebsocket's _message_queue: messages, and a None for the close.
        self._message_queue: deque[bytes | None] = deque()
        self._close_seen = False  # the None for the close was queued
        #: dwebsocket's attribute: True once the view called :meth:`close`.
        self.closed = False
        self._idle_polls = 0  # polls in a row that found nothing (see _found_nothing)
        self._polls_after_close = 0  # Nones handed out for a close already reported

    @property
    def native(self) -> NativeWebSocket:
        """The django_ws connection under this one (its whole API)."""
        return self._websocket

    def __getattr__(self, name: str) -> Any:
        # Only for names not defined here: django_ws's extras. Not for our
        # own, which copy and pickle look up before __init__ has run.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._websocket, name)

    def accept_connection(self) -> None:
        """Send the 101; the decorators call it before the view runs, as dwebsocket did."""
        self._websocket.accept()

    # -- reading ---------------------------------------------------------------

    def _found_nothing(self) -> None:
        """A poll found no message: let the loop run, longer each time in a row.

        dwebsocket's views poll (``while not ws.is_closed(): m = ws.read()``),
        which cost a thread under runserver and would hold the whole event
        loop here: every greenlet of the process, HTTP included, would wait.
        The first empty poll only yields; the following ones sleep 1 ms, 2,
        4... up to 50 ms, so an idle poller costs a few wake-ups a second,
        and a message arrives at most 50 ms late.
        """
        idle = self._idle_polls
        self._idle_polls = idle + 1
        gevent.sleep(0 if idle == 0 else min(_POLL_SLEEP * 2 ** (idle - 1), _POLL_MAX))

    def _after_close(self) -> None:
        """Another None for a close already reported: past a bound, end the view.

        A ``while True: m = ws.wait(); ws.send(m)`` loop (flask-sock's README)
        gets None for ever once the client left; it would poll on for the
        life of the process.
        """
        self._polls_after_close += 1
        if self._polls_after_close > _POLLS_AFTER_CLOSE:
            raise ViewAbandoned(
                f"the view kept polling {self._websocket!r} {_POLLS_AFTER_CLOSE} times after "
                f"its close was reported (wait()/read() returned None)"
            )
        self._found_nothing()

    def _get_new_messages(self) -> None:
        # 0.5.12 read one frame per call when one was there; the close frame
        # gave a None, queued like a message.
        if self._close_seen or self.closed:
            return
        message = self._websocket.read()
        if message is not None:
            self._message_queue.append(_as_bytes(message))
        elif self._websocket.closed:
            self._close_seen = True
            self._message_queue.append(None)

    def count_messages(self) -> int:
        """The number of queued messages, the close's None included."""
        self._get_new_messages()
        if not self._message_queue:
            self._found_nothing()  # ``while ws.count_messages() == 0``: a poll
        return len(self._message_queue)

    def has_messages(self) -> bool:
        """True if a message (or the close's None) is queued."""
        if self._queued():
            return True
        self._found_nothing()  # ``while not ws.has_messages()``: a poll
        return False

    def _queued(self) -> bool:
        if self._message_queue:
            return True
        self._get_new_messages()
        return bool(self._message_queue)

    def read(self, fallback: Any = None) -> Any:
        """The oldest queued message, or ``fallback`` if none is. Never blocks the others.

        The close's None is a queued message: ``read()`` returns it, not
        ``fallback``, as 0.5.12 did. Found nothing, it lets the event loop
        run first (see ``_found_nothing``): a ``read()`` loop holds no more
        than a thread did under dwebsocket.
        """
        if self._queued():
            self._idle_polls = 0
            return self._message_queue.popleft()
        if self._close_seen or self.closed:
            self._after_close()
        else:
            self._found_nothing()
        return fallback

    def wait(self, timeout: float | None = None) -> bytes | None:
        """The next message; None for the close, once closed, or after ``timeout`` seconds."""
        if self._message_queue:
            return self._message_queue.popleft()
        if self.closed or self._close_seen:
            self._after_close()
            return None
        try:
            message = self._websocket.wait(timeout)
        except TimeoutError:
            return None
        if message is None:
            self._close_seen = True  # the close's None, taken at once
            return None
        self._idle_polls = 0
        return _as_bytes(message)

    def __iter__(self) -> Iterator[bytes | None]:
        """Yield each message, then one None for the close, then stop (0.5.12)."""
        while True:
            message = self.wait()
            yield message
            if message is None:
                break

    # -- writing and closing -----------------------------------------------------

    def send(self, message: Any) -> None:
        """Send ``message``: ``str`` and UTF-8 ``bytes`` as a text frame, as dwebsocket did.

        ``bytes`` that are not UTF-8 go out as a binary frame (a text frame
        must be UTF-8, RFC 6455 8.1). Does nothing once the connection is
        closed, and never raises for a departed client.

        Raises:
            TypeError: ``message`` is of no type django_ws can send.
        """
        # Not is_closed(): it may queue the close's None, and another
        # greenlet (an HTTP view pushing to this socket) must not do that.
        if self.closed or self._websocket.closed:
            return
        if isinstance(message, (bytes, bytearray, memoryview)):
            data = bytes(message)
            try:
                message = data.decode()
            except UnicodeDecodeError:
                message = data
        try:
            self._websocket.send(message)
        except (ConnectionClosed, TimeoutError):
            pass  # dwebsocket swallowed socket errors; is_closed() now says it

    def close(self, code: int | None = None, reason: str | bytes | None = None) -> None:
        """Close with ``code`` (1000 by default) and ``reason`` (``bytes`` or ``str``)."""
        if not self.closed:
            self._websocket.close(code or CloseCode.NORMAL_CLOSURE, reason or "")
            self.closed = True

    def is_closed(self) -> bool:
        """True once the view closed, the close was read, or the connection is gone."""
        if self.closed or self._close_seen:
            return True
        websocket = self._websocket
        if websocket.closed and not websocket.has_messages():
            self._get_new_messages()  # queues the close's None
        if not self._close_seen and not self._message_queue:
            # ``while not ws.is_closed(): ...`` with nothing to read: a poll.
            self._found_nothing()
        return self._close_seen

    def __repr__(self) -> str:
        return f"<dwebsocket-compatible {self._websocket!r}>"
