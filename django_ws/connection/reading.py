"""Reading: the view's own inline reads, and the background hand-over.

Whoever reads the socket feeds the bytes to the sans-I/O protocol, queues
the complete messages in the inbox, and writes what the protocol answers
(pongs, the closing handshake). Usually that is the view's own greenlet,
inside ``wait()`` and the iteration: a message then goes from the socket to
the view without a switch to another greenlet, and an idle connection costs
one greenlet. When the view stays away from ``wait()`` for longer than
``_BUSY_AFTER`` (it sleeps, queries, only sends), a reader greenlet takes
over until the view waits again, so that pings are answered, the close is
seen, and ``read()``/``count_messages()`` find what arrived. One lock makes
sure one greenlet reads at a time.

Every connection of the process shares one event loop, so no reader may keep
it while a client keeps sending. A read that gives the view no message (a
fragment, a ping, a large message still arriving) is followed by a trip
through the loop (gevent's wait on the socket, which runs every other
greenlet that is ready) before the next read, however fast the data comes;
the background reader goes through it after every read; a view lets the
others run after every ``_STREAK`` messages it is handed; ``read()`` and
``count_messages()`` read at most twice. A read that does give a message
costs no trip: the common echo pays nothing for this.
What one read costs to parse is bounded by the frame budgets
(``django_ws.protocol.FrameBudget``): a stream of frames that make no message
is closed with 1008 instead of being parsed for ever.

The frames on the stack while a view blocks here are kept for the
connection's whole life (see django_ws.server.middleware_chain): the blocking path
(``_next_message`` -> ``_receive`` -> ``_recv``) stays three calls deep, and
``_recv`` keeps its loop inline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from websockets.frames import Opcode

from ..exceptions import ConnectionClosed
from ..protocol import FrameBudgetExceeded, Message
from .base import _CLOSED, _OPEN
from .ratelimit import RateLimit

__all__ = ["Reading"]

_CLOSE, _PONG = Opcode.CLOSE, Opcode.PONG
_READ_SIZE = 65536
#: How long the view may stay out of ``wait()`` before a reader greenlet
#: reads for it (answers pings, sees the close, queues messages).
_BUSY_AFTER = 0.05
#: Reads that wait for the socket before trying it, after a read found
#: nothing there (see Reading._recv).
_LAZY_READS = 16
#: Queued messages handed to the view in a row before it lets the other
#: greenlets run (one read of small messages may queue thousands).
_STREAK = 64
#: Reads of read()/count_messages() in one call: what arrived meanwhile
#: waits for the next call, not for ever.
_DRAIN_READS = 2


class Reading(RateLimit):
    """Reading the socket into the inbox, by the view or for it."""

    __slots__ = (
        "_before_block", "_busy_timer", "_handover", "_lazy_reads", "_on_busy", "_read_lock",
        "_reader", "_streak",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # One greenlet reads at a time, under the read lock: the view
        # itself, or the background reader while the view is busy.
        self._read_lock = Semaphore()
        self._reader: gevent.Greenlet[Any, Any] | None = None
        self._handover = False  # the view waits: the background reader should stop
        self._busy_timer: Any = None
        self._on_busy: Callable[[], None] | None = None
        self._before_block: Callable[[], None] | None = None
        self._lazy_reads = 0
        self._streak = 0  # messages handed to the view since it last let the others run

    def on_idle(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever the view is about to block for a message."""
        self._before_block = callback

    def _next_message(self, timeout: float | None) -> Message | None:
        """What ``wait()`` and the iteration return; reads inline if it may."""
        queue = self._queue
        message = queue.get_nowait()
        if message is not None:
            # The view stays busy: no timer to move. But the loop is shared.
            self._streak += 1
            if self._streak >= _STREAK:
                self._streak = 0
                gevent.sleep(0)
            return message
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
                            self._streak += 1
                            if self._streak >= _STREAK and not self._lazy_reads:
                                # Each read gave one message and the data kept
                                # coming: the next read goes through the loop.
                                self._streak = 0
                                self._lazy_reads = 1
                            return message
                        # Nothing for the view: the next read goes through
                        # the loop first, whatever is there (it is shared).
                        if not self._lazy_reads:
                            self._lazy_reads = 1
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
                    if not self._lazy_reads:
                        self._lazy_reads = 1  # the loop is shared: through it first
        finally:
            self._reader = None
            self._queue.wake()  # a waiting view takes over the reading

    def _drain(self) -> None:
        """Process what already arrived, without blocking (read(), count...)."""
        if self._read_lock.acquire(blocking=False):
            try:
                for _ in range(_DRAIN_READS):
                    if not self._receive(block=False, timeout=None, backpressure=False):
                        break
            finally:
                self._read_lock.release()

    def _await_close(self, timeout: float | None) -> bool:
        """Wait for the client's close frame, reading if nobody else does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._close_seen:
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
                if self._close_waiter is None:
                    self._close_waiter = Event()
                self._close_waiter.wait(remaining)
        return self._close_seen

    def _receive(self, block: bool, timeout: float | None, backpressure: bool) -> bool:
        """Read once, feed the protocol, queue messages, send its answers.

        The caller holds the read lock. One function, on purpose: it is on
        the blocking path under a waiting view (see the module docstring).

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
        if self._read_after and self._throttled(block, timeout):
            return False  # past the message rate: not yet
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
        if self._options.message_rate is not None:
            events = self._limit_rate(events)
        # `writes` is the protocol's output buffer: checking it saves
        # taking the write lock for the many frames that need no answer.
        if protocol.writes:
            failure = protocol.parser_exc
            if type(failure) is FrameBudgetExceeded and not failure.reported:
                failure.reported = True
                self._policy_close(failure.reason, str(failure))
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
                self._saw_close()
        if protocol.state is _CLOSED or self._lost or not data:
            # Not after we failed the connection: the protocol then ignores
            # the client's close frame, and EOF is the expected end.
            if (not data and protocol.close_rcvd is None and not self._lost
                    and (protocol.close_sent is None or self.closed_by_client is False)):
                self._lose("the client closed TCP without a close frame")
            self._end_of_input()
            return False
        return True

    def _end_of_input(self) -> None:
        self._queue.close()
        self._saw_close()
        if self._busy_timer is not None:
            self._busy_timer.stop()
        self._drop_parser_traceback()

    def _drop_parser_traceback(self) -> None:
        # The protocol keeps the exception that stopped its parser (EOFError
        # at the client's end of TCP, a ProtocolError) as ``parser_exc``. Its
        # traceback holds the frames of the read that raised it, the view's
        # frames among them, and through them this connection: a cycle that
        # only the cyclic GC frees (seen on Python 3.12). Type and text stay.
        failure = self.protocol.parser_exc
        if failure is not None:
            failure.__traceback__ = None

    def _recv(self, block: bool, timeout: float | None) -> bytes | None:
        """Bytes from the socket: b"" at EOF or on a dead connection; None if
        none arrived yet (without ``block``).

        While the connection is open, a blocking read has no socket timeout
        (gevent would start a timer for every read): the keepalive timer
        watches for silence. Once closing, the close timeout bounds it.

        Longer than a function should be, on purpose: its retry loop stays
        inline, since each frame below a blocked view is kept for the
        connection's whole life.

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
            # connection's whole life (see django_ws.server.middleware_chain).
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
