"""The inbox: received messages the view has not read yet."""

from __future__ import annotations

from collections import deque

from gevent.event import Event

from ..protocol import Message

__all__ = ["Inbox"]


class Inbox:
    """Received messages not read yet.

    The background reader's ``put()`` blocks while the inbox is full: the
    reader stops reading the socket and the kernel's window closes on the
    client, instead of the server buffering without limit (a view that never
    reads). The view's own reading only happens when the inbox is empty, so
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
