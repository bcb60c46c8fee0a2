"""The reader: the view's own inline reads, and the background hand-over.

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
(``WebSocket.wait`` -> ``Reader.next_message`` -> ``_receive`` -> ``_recv``)
stays as deep as it was in one class, and ``_recv`` keeps its loop inline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from websockets.frames import Opcode
from websockets.protocol import State

from ..options import ConnectionOptions
from ..protocol import FrameBudgetExceeded, Message, WebSocketProtocol
from .holding import failed_after_messages
from .inbox import Inbox
from .keepalive import Keepalive
from .link import Link
from .ratelimit import MessageRate
from .writing import Writer

__all__ = ["BUSY_AFTER", "Reader"]

_OPEN, _CLOSED = State.OPEN, State.CLOSED
_CLOSE, _PONG = Opcode.CLOSE, Opcode.PONG
_READ_SIZE = 65536
#: How long the view may stay out of ``wait()`` before a reader greenlet
#: reads for it (answers pings, sees the close, queues messages).
BUSY_AFTER = 0.05
#: Reads that wait for the socket before trying it, after a read found
#: nothing there (see Reader._recv).
LAZY_READS = 16
#: Queued messages handed to the view in a row before it lets the other
#: greenlets run (one read of small messages may queue thousands).
STREAK = 64
#: Reads of read()/count_messages() in one call: what arrived meanwhile
#: waits for the next call, not for ever.
_DRAIN_READS = 2


class Reader:
    """Reading the socket into the inbox, by the view or for it."""

    __slots__ = (
        "_background", "_busy_timer", "_close_waiter", "_handover", "_inbox", "_initial",
        "_link", "_on_busy", "_protocol", "_sock", "_streak", "_writer", "binary_in",
        "bytes_in", "close_seen", "keepalive", "lazy_reads", "lock", "messages_in", "on_idle",
        "options", "rate",
    )

    def __init__(self, link: Link, initial: bytes, protocol: WebSocketProtocol, inbox: Inbox,
                 writer: Writer, keepalive: Keepalive, options: ConnectionOptions) -> None:
        self._link = link
        self._sock = link.sock
        # Bytes that arrived with the handshake, read by the HTTP server.
        self._initial = initial
        self._protocol = protocol
        self._inbox = inbox
        self._writer = writer  # for the protocol's answers: pongs, the close, held or not
        self.keepalive = keepalive  # told when data arrives, and of pongs
        self.options = options
        self.rate: MessageRate | None = None  # set at accept() with a message rate
        # One greenlet reads at a time, under the read lock: the view
        # itself, or the background reader while the view is busy.
        self.lock = Semaphore()
        self._background: gevent.Greenlet[Any, Any] | None = None
        self._handover = False  # the view waits: the background reader should stop
        self._busy_timer: Any = None
        self._on_busy: Callable[[], None] | None = None
        #: Called whenever the view is about to block for a message.
        self.on_idle: Callable[[], None] | None = None
        self.lazy_reads = 0
        self._streak = 0  # messages handed to the view since it last let the others run
        # True once the client's close frame arrived, or the reader ended;
        # the event is made only for a greenlet that must wait for that.
        self.close_seen = False
        self._close_waiter: Event | None = None
        # For the log line and the metrics: messages (binary among them) and
        # the bytes read.
        self.messages_in = self.binary_in = self.bytes_in = 0

    @property
    def has_initial(self) -> bool:
        """Whether bytes that came with the handshake are still to be read."""
        return bool(self._initial)

    @property
    def background(self) -> bool:
        """Whether a reader greenlet reads for a busy view now."""
        return self._background is not None

    def start(self) -> None:
        """The 101 was sent: from now on a busy view gets a background reader."""
        self._busy_timer = gevent.get_hub().loop.timer(BUSY_AFTER)
        self._on_busy = self._start_background_reader  # bound once, started per message
        self.view_busy()  # until the view first waits

    def detach(self) -> None:
        """The view goes, callbacks serve the connection: no reader greenlet for
        it. One started while ``open()`` ran stops after its current read."""
        self._busy_timer.stop()
        self._on_busy = None
        self._handover = True

    def stop(self) -> None:
        """At the end of the connection: no timer or greenlet outlives it."""
        if self._busy_timer is not None:
            self._busy_timer.close()
        background = self._background
        if background is not None and not background.dead:
            background.kill(block=False)
        # A bound method of self, which the timer held: no cycle left.
        self._on_busy = None
        self.drop_parser_traceback()  # its frames hold the connection (see below)

    def next_message(self, timeout: float | None) -> Message | None:
        """What ``wait()`` and the iteration return; reads inline if it may."""
        inbox = self._inbox
        message = inbox.get_nowait()
        if message is not None:
            # The view stays busy: no timer to move. But the loop is shared.
            self._streak += 1
            if self._streak >= STREAK:
                self._streak = 0
                gevent.sleep(0)
            return message
        if self._writer.held is not None:
            self._writer.release_held()  # the view took what came before the error
        self._busy_timer.stop()
        try:
            if self.on_idle is not None:
                self.on_idle()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                if inbox.closed:
                    return inbox.get_nowait()  # what is left, then None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no WebSocket message within {timeout} seconds")
                if self.lock.acquire(blocking=False):
                    try:
                        self._receive(True, remaining, False)  # block, timeout, backpressure
                        message = inbox.get_nowait()
                        if message is not None:
                            self._streak += 1
                            if self._streak >= STREAK and not self.lazy_reads:
                                # Each read gave one message and the data kept
                                # coming: the next read goes through the loop.
                                self._streak = 0
                                self.lazy_reads = 1
                            return message
                        # Nothing for the view: the next read goes through
                        # the loop first, whatever is there (it is shared).
                        if not self.lazy_reads:
                            self.lazy_reads = 1
                    except TimeoutError:
                        raise TimeoutError(
                            f"no WebSocket message within {timeout} seconds"
                        ) from None
                    finally:
                        self.lock.release()
                else:
                    # The background reader (or a closing greenlet) reads:
                    # ask it to hand the socket back, and wait for what it
                    # queues meanwhile.
                    self._handover = True
                    if not inbox.wait(remaining) and deadline is not None:
                        raise TimeoutError(f"no WebSocket message within {timeout} seconds")
                    message = inbox.get_nowait()
                    if message is not None:
                        return message
        finally:
            self.view_busy()

    def view_busy(self) -> None:
        """The view goes off to do other things; if it stays away, a reader
        greenlet will read for it. Detached, the event loop reads."""
        if not self._inbox.closed and self._on_busy is not None:
            self._busy_timer.start(self._on_busy)

    def _start_background_reader(self) -> None:
        # A timer callback, in the hub: must not block. A reader that was
        # asked to hand over but has not yet (it waits for data) keeps going.
        self._handover = False
        if self._background is None and not self._inbox.closed:
            self._background = gevent.spawn(self._read_in_background)

    def _read_in_background(self) -> None:
        try:
            with self.lock:
                while not self._handover:
                    if not self._receive(block=True, timeout=None, backpressure=True):
                        break
                    if not self.lazy_reads:
                        self.lazy_reads = 1  # the loop is shared: through it first
        finally:
            self._background = None
            self._inbox.wake()  # a waiting view takes over the reading

    def drain(self) -> None:
        """Process what already arrived, without blocking (read(), count...)."""
        if self.lock.acquire(blocking=False):
            try:
                for _ in range(_DRAIN_READS):
                    if not self._receive(block=False, timeout=None, backpressure=False):
                        break
            finally:
                self.lock.release()

    def read_once(self) -> bool:
        """One read that never blocks, for a detached connection's burst; the
        caller holds the read lock. False when nothing more came."""
        return self._receive(False, None, False)  # no block, timeout, backpressure

    def await_close(self, timeout: float | None) -> bool:
        """Wait for the client's close frame, reading if nobody else does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.close_seen:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if self.lock.acquire(blocking=False):
                try:
                    if not self._receive(block=True, timeout=remaining, backpressure=False):
                        break
                except TimeoutError:
                    return False
                finally:
                    self.lock.release()
            else:
                if self._close_waiter is None:
                    self._close_waiter = Event()
                self._close_waiter.wait(remaining)
        return self.close_seen

    def _saw_close(self) -> None:
        self.close_seen = True
        if self._close_waiter is not None:
            self._close_waiter.set()

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
        protocol = self._protocol
        link = self._link
        if protocol.state is _CLOSED or link.lost:
            self._end_of_input()
            return False
        rate = self.rate
        if rate is not None and rate.read_after and rate.wait(block, timeout, self._open):
            return False  # past the message rate: not yet
        data = self._recv(block, timeout)
        if data is None:
            return False  # nothing yet
        self.keepalive.received = True  # the peer is alive
        self.bytes_in += len(data)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events: list[Any] = protocol.events_received()
        if rate is not None:
            events, cause = rate.admit(events)
            if cause is not None and protocol.state is _OPEN:
                protocol.fail(1008, cause)  # policy violation
                link.policy_close("message_rate", cause)
        # `writes` is the protocol's output buffer: checking it saves
        # taking the write lock for the many frames that need no answer.
        if protocol.writes:
            failure = protocol.parser_exc
            if type(failure) is FrameBudgetExceeded and not failure.reported:
                failure.reported = True
                link.policy_close(failure.reason, str(failure))
            writer = self._writer
            if writer.held is None and failed_after_messages(protocol, events,
                                                             link.closed_by_client):
                writer.hold()
            else:
                writer.flush_quietly(self.options.send_timeout)
        inbox = self._inbox
        for event in events:
            if type(event) is str or type(event) is bytes:
                self.messages_in += 1
                if type(event) is bytes:
                    self.binary_in += 1
                inbox.put(event, block=backpressure)
            elif event.opcode is _PONG and self.keepalive.awaits_pong:
                self.keepalive.match_pong(event.data)
            elif event.opcode is _CLOSE:
                if link.closed_by_client is None:
                    link.closed_by_client = True
                inbox.close()
                self._saw_close()
        if protocol.state is _CLOSED or link.lost or not data:
            # Not after we failed the connection: the protocol then ignores
            # the client's close frame, and EOF is the expected end.
            if (not data and protocol.close_rcvd is None and not link.lost
                    and (protocol.close_sent is None or link.closed_by_client is False)):
                link.lose("the client closed TCP without a close frame")
            self._end_of_input()
            return False
        return True

    def _open(self) -> bool:
        return self._protocol.state is _OPEN and not self._link.lost

    def _end_of_input(self) -> None:
        self._inbox.close()
        self._saw_close()
        if self._busy_timer is not None:
            self._busy_timer.stop()
        self.drop_parser_traceback()

    def drop_parser_traceback(self) -> None:
        """Drop the traceback of the error that stopped the protocol's parser.

        The protocol keeps the exception that stopped its parser (EOFError
        at the client's end of TCP, a ProtocolError) as ``parser_exc``. Its
        traceback holds the frames of the read that raised it, the view's
        frames among them, and through them the connection: a cycle that
        only the cyclic GC frees (seen on Python 3.12). Type and text stay.
        """
        failure = self._protocol.parser_exc
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
        if self._protocol.state is not _OPEN:
            # Waiting for the client's close or EOF: at most the close
            # timeout, and no longer than the caller's deadline (what is left
            # of close()'s close timeout), so that data the client keeps
            # sending cannot stretch the wait.
            close_timeout = self.options.close_timeout
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
            if self.lazy_reads:
                self.lazy_reads -= 1
            else:
                try:
                    data = raw.recv(_READ_SIZE)
                    return data
                except BlockingIOError:
                    self.lazy_reads = LAZY_READS
            while True:
                # gevent's own wait: on the socket's watcher, with its
                # timeout, and cancelled when the socket is closed.
                sock._wait(sock._read_event)
                try:
                    data = raw.recv(_READ_SIZE)
                except BlockingIOError:
                    continue  # woken without data
                if len(data) == _READ_SIZE:
                    self.lazy_reads = 0  # a large message streams in: more is there
                return data
        except (BlockingIOError, TimeoutError):
            if not block:
                return None
            if closing:
                self._link.lose(f"no close frame from the client within {close_timeout}s "
                           f"(WEBSOCKET_CLOSE_TIMEOUT)")
                return b""
            raise TimeoutError from None
        except OSError as exc:
            self._link.lose(exc)
            return b""
        finally:
            if timeout is not None:
                sock.settimeout(None)
