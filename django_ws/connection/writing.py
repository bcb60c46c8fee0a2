"""The writer: one non-blocking write, the output not written yet, flushing.

Bytes reach the socket through :meth:`Writer.write_now` only when nothing
may wait (``send()``'s usual case, a broadcast delivery, the flushing of
what is pending), and through :meth:`Writer.sendall` when the writer may
wait for the client, up to the send timeout. What the socket did not take
stays in ``out``, in the order the protocol produced it (the head may be a
partly written frame), and is written by whoever holds the write lock next,
or by a background flusher. So concurrent sends never interleave frames,
and nothing goes after a close frame (RFC 6455 5.5.1).
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
import time
from typing import Any

import gevent
from gevent.lock import Semaphore
from websockets.frames import Frame, Opcode

from ..exceptions import ConnectionClosed
from ..options import ConnectionOptions
from ..protocol import WebSocketProtocol
from . import counters
from .holding import HeldClose
from .link import Link

__all__ = ["Writer"]

logger = logging.getLogger("django_ws.connection")

#: Payloads from this size on are written beside their frame header
#: (sendmsg) rather than copied into one bytes object with it.
_GATHER_AT = 16384


class _SendTimeout(Exception):
    """The send timeout fired (distinct from the socket's own timeouts)."""


class Writer:
    """What goes to the client: the messages sent, their bytes, what is pending,
    and the close frame held back (see holding.py)."""

    __slots__ = (
        "_flusher", "_link", "_protocol", "_sock", "binary_out", "bytes_out", "held", "lock",
        "messages_out", "options", "out", "out_bytes",
    )

    def __init__(self, link: Link, protocol: WebSocketProtocol,
                 options: ConnectionOptions) -> None:
        self._link = link  # dropped when a write fails
        self._sock = link.sock
        self._protocol = protocol
        self.options = options
        self.lock = Semaphore()  # held by whoever writes what may wait
        # Serialized bytes not written yet, in protocol order; the head may be
        # a partly written frame (a memoryview of its rest).
        self.out: list[Any] = []
        self.out_bytes = 0
        self._flusher: gevent.Greenlet[Any, Any] | None = None
        # For the log line and the metrics: messages (binary among them) and
        # the bytes of the frames written.
        self.messages_out = self.binary_out = self.bytes_out = 0
        #: The protocol's close frame, held while the view takes the valid
        #: messages that came before the client's error.
        self.held: HeldClose | None = None

    def send(self, data: bytes, text: bool, timeout: float | None) -> None:
        """Frame and write one message; the caller checked the connection is open.

        Raises:
            ConnectionClosed: the connection failed under the write.
            TimeoutError: the client did not take the data in time.
        """
        self.messages_out += 1
        if not text:
            self.binary_out += 1
        protocol = self._protocol
        head = protocol.frame_head(len(data), text=text)
        if head is None:  # compressed, or logged: websockets frames it
            if text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
        elif self.out or protocol.writes or self.lock.locked():
            self.queue_output(head + data)  # behind what is pending, in order
        else:
            # The usual case: nothing else to write and nobody writing, so
            # no lock is needed (see write_now). A small frame is one bytes
            # object; a large payload goes out beside its header, not copied.
            if len(data) < _GATHER_AT:
                head, data = head + data, b""
            sent = self.write_now(head, data)
            if sent < 0:
                raise self._link.closed_error()
            if sent < len(head):
                self.queue_output(head[sent:] + data)
            elif sent - len(head) < len(data):
                self.queue_output(memoryview(data)[sent - len(head):])
            else:
                return
        self.flush(self.options.send_timeout if timeout is None else timeout)

    def hold(self) -> None:
        """Hold the protocol's close frame until the view took the messages."""
        self.held = HeldClose(self._protocol.data_to_send(), self.release_held)

    def release_held(self) -> None:
        """Let the held close frame go, after what the view sent meanwhile."""
        # Never blocks: also the timer's callback, in the hub.
        held, self.held = self.held, None
        if held is None:
            return
        held.cancel()
        self.collect(held.writes)
        self.send_nowait()

    def send_before_close(self, data: bytes, text: bool, timeout: float | None) -> None:
        """send() while the close frame is held (see holding.py).

        The protocol refuses to frame once closing: the message is framed
        here, and queued before that frame.
        """
        frame = Frame(Opcode.TEXT if text else Opcode.BINARY, bytes(data))
        self.queue_output(frame.serialize(mask=False, extensions=[]))
        self.messages_out += 1
        if not text:
            self.binary_out += 1
        self.flush(self.options.send_timeout if timeout is None else timeout)

    def deliver(self, frame: bytes | None, data: bytes, text: bool) -> bool:
        """A group message, written as far as the socket takes it now (see
        ``WebSocket.deliver``); the caller checked the connection is open."""
        protocol = self._protocol
        if frame is None or protocol.extensions:
            # Compression keeps state per connection: encode it here.
            if text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
        else:
            self.queue_output(frame)
        self.messages_out += 1
        if not text:
            self.binary_out += 1
        return self.send_nowait()

    def write_now(self, data: bytes | memoryview, more: bytes | memoryview = b"") -> int:
        """Write what the socket takes now: ``data``, then ``more`` beside it.

        The one write that never blocks: a send on the non-blocking socket
        never switches greenlets, so no lock is needed around it, and what
        calls it runs whole. ``more`` goes out with ``data`` in one system
        call (sendmsg), not copied into it.

        Returns:
            The bytes written, 0 when the kernel's buffer is full, or -1 when
            the connection failed under the write (it was dropped).
        """
        raw = self._sock._sock  # the non-blocking stdlib socket under gevent's
        try:
            sent: int = raw.sendmsg((data, more)) if more else raw.send(data)
            self.bytes_out += sent
            return sent
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._link.abort(exc)
            return -1

    def collect(self, writes: list[bytes] | None = None) -> None:
        """Move what the protocol serialized into the output, in its order."""
        if writes is None:
            writes = self._protocol.data_to_send()
        if writes:
            self.out.extend(writes)
            self.out_bytes += sum(map(len, writes))

    def queue_output(self, frame: bytes | memoryview) -> None:
        """Queue bytes after what the protocol already produced, to keep its order."""
        self.collect()
        self.out.append(frame)
        self.out_bytes += len(frame)

    def flush(self, timeout: float | None) -> None:
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
        lock = self.lock
        if not lock.acquire(blocking=False):
            started = time.monotonic()
            if not lock.acquire(timeout=timeout):
                self._link.abort(f"a write stuck for {timeout}s")
                raise TimeoutError(
                    f"another write to the client did not end within {timeout} seconds; "
                    f"the connection was dropped"
                )
            if timeout is not None:
                timeout = max(0.0, timeout - (time.monotonic() - started))
        try:
            out = self.out
            if not out:
                # The usual case: nothing pending, one frame to write.
                writes = self._protocol.data_to_send()
                if len(writes) == 1 and writes[0]:
                    self.sendall(writes[0], timeout)
                else:
                    self.collect(writes)
            while True:
                self.collect()
                if not out:
                    return
                data = out.pop(0)
                self.out_bytes -= len(data)
                if data:
                    self.sendall(data, timeout)
                else:  # SEND_EOF: the server closes TCP first (RFC 6455 7.1.1)
                    try:
                        self._sock.shutdown(stdlib_socket.SHUT_WR)
                    except OSError:
                        pass
        finally:
            lock.release()

    def flush_quietly(self, timeout: float | None) -> None:
        """flush(), for the protocol's own answers: a failure already dropped
        the connection, and logged what is worth logging."""
        try:
            self.flush(timeout)
        except (ConnectionClosed, TimeoutError):
            pass

    def send_nowait(self) -> bool:
        """Write pending output as far as the socket takes it now; never block.

        What is left is written by a background greenlet, unless it exceeds
        ``max_send_buffer``: then the client is too slow and is dropped.

        Returns:
            False if the connection was dropped.
        """
        self.collect()
        if not self.lock.locked():  # else the writer drains out, in order
            self._write_nowait()
        if self.out:
            limit = self.options.max_send_buffer
            if limit is not None and self.out_bytes > limit:
                logger.warning(
                    "dropped slow WebSocket client %s: %d bytes unsent "
                    "(WEBSOCKET_MAX_SEND_BUFFER)", self._link.describe(), self.out_bytes,
                )
                counters.slow_members_dropped += 1
                self._link.abort()
                return False
            if self._flusher is None or self._flusher.dead:
                self._flusher = gevent.spawn(self._flush_in_background)
        return True

    def _write_nowait(self) -> None:
        # raw.send() on the non-blocking socket never switches greenlets, so
        # this runs whole, and a partly written frame stays at the head.
        out = self.out
        while out:
            data = out[0]
            if not data:
                return  # EOF: left to flush(), after everything else
            sent = self.write_now(data)
            if sent <= 0:
                return  # full, or dropped
            self.out_bytes -= sent
            if sent < len(data):
                out[0] = memoryview(data)[sent:]
                return
            out.pop(0)

    def _flush_in_background(self) -> None:
        self.flush_quietly(self.options.send_timeout)

    def sendall(self, data: bytes | memoryview, timeout: float | None) -> None:
        """Write ``data`` whole, waiting for the client up to ``timeout``; the
        caller holds the lock."""
        sent = self.write_now(data)
        if sent == len(data):  # the usual case: the kernel took it all
            return
        if sent < 0:
            raise self._link.closed_error()
        sock = self._sock
        try:
            # A slow reader: wait for room, up to the send timeout for the
            # whole message. gevent's send() waits on the socket's own
            # watcher, which closing the socket cancels; its timeout is the
            # reader's keepalive tick, so it only means "still waiting".
            view = memoryview(data)[sent:]
            with gevent.Timeout(timeout, _SendTimeout):
                while view:
                    try:
                        written = sock.send(view)
                    except TimeoutError:
                        continue
                    self.bytes_out += written
                    view = view[written:]
        except _SendTimeout:
            self._link.abort(f"the client did not read {len(data)} bytes within {timeout}s "
                        f"(WEBSOCKET_SEND_TIMEOUT)")
            raise TimeoutError(
                f"the client did not read {len(data)} bytes within {timeout} seconds; "
                f"the connection was dropped (WEBSOCKET_SEND_TIMEOUT)"
            ) from None
        except OSError as exc:
            self._link.abort(exc)
            raise self._link.closed_error() from None

    def stop(self) -> None:
        """At the end of the connection: no timer or flusher outlives it."""
        if self.held is not None:
            self.held.cancel()
            self.held = None
        flusher = self._flusher
        if flusher is not None and not flusher.dead:
            flusher.kill(block=False)
