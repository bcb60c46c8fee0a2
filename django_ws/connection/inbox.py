"""The inbox: received messages the view has not read yet."""

from __future__ import annotations

from collections import deque

from gevent.event import Event

from ..protocol import Message

__all__ = ["Inbox"]


class Inbox:
    """Received messages not read yet.

    Full at ``maxsize`` messages or ``maxbytes`` bytes (characters for text),
    whichever comes first; one message is always let in, whatever its size
    (``max_message_size`` bounds that). The background reader's ``put()``
    blocks while the inbox is full: the reader stops reading the socket and
    the kernel's window closes on the client, instead of the server
    buffering without limit (a view that never reads: 64 messages of 1 MiB
    each were 64 MiB per connection). The view's own reading only happens
    when the inbox is empty, so it adds at most one read's worth of messages
    and never waits here.
    """

    # Slots, and events made only when a greenlet must wait on them: most
    # connections never fill their inbox, and few views wait while another
    # greenlet reads (each gevent Event is about 150 bytes).
    __slots__ = ("_bytes", "_items", "_readable", "_waiters", "_writable", "closed", "maxbytes",
                 "maxsize")

    def __init__(self, maxsize: int, maxbytes: int | None = None) -> None:
        # Made on the first message: an idle connection does not pay for a
        # deque's first block (about 0.6 KiB).
        self._items: deque[Message] | None = None
        self.maxsize = max(1, maxsize)
        self.maxbytes = maxbytes  # None: no limit in bytes
        self._bytes = 0
        self._readable: Event | None = None  # made by the first wait()
        self._writable: Event | None = None  # made by the first put() that waits
        self._waiters = 0  # greenlets in wait(): only they need _readable set
        self.closed = False

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def full(self) -> bool:
        items = self._items
        if not items:
            return False
        maxbytes = self.maxbytes
        return len(items) >= self.maxsize or (maxbytes is not None and self._bytes >= maxbytes)

    def put(self, item: Message, *, block: bool) -> None:
        if block:
            while self.full() and not self.closed:
                if self._writable is None:
                    self._writable = Event()
                self._writable.clear()  # cleared only while a put() waits
                self._writable.wait()
        if not self.closed:
            if self._items is None:
                self._items = deque()
            self._items.append(item)
            self._bytes += len(item)
            if self._waiters:
                self._readable.set()  # type: ignore[union-attr]  # made by wait()

    def close(self) -> None:
        """No more messages will come; wake every waiter."""
        self.closed = True
        self.wake()
        if self._writable is not None:
            self._writable.set()

    def drop(self) -> None:
        """Free what was never read (the connection ended)."""
        self._items = None
        self._bytes = 0

    def get_nowait(self) -> Message | None:
        items = self._items
        if not items:
            return None
        item = items.popleft()
        self._bytes -= len(item)
        writable = self._writable
        if writable is not None and not writable.is_set() and not self.full():
            writable.set()  # wake the reader waiting in put()
        return item

    def wait(self, timeout: float | None) -> bool:
        """Wait for a message, the close, or a wake-up; False on timeout."""
        if self._items or self.closed:
            return True
        if self._readable is None:
            self._readable = Event()
        else:
            self._readable.clear()
        self._waiters += 1
        try:
            return bool(self._readable.wait(timeout))
        finally:
            self._waiters -= 1

    def wake(self) -> None:
        if self._readable is not None:
            self._readable.set()
