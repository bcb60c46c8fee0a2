"""Writing: one non-blocking write primitive, pending output, flushing.

Bytes reach the socket through :meth:`Writing._write_now` only when nothing
may wait (``send()``'s usual case, a broadcast delivery, the flushing of
what is pending), and through :meth:`Writing._sendall` when the writer may
wait for the client, up to the send timeout. What the socket did not take
stays in ``_out``, in the order the protocol produced it (the head may be a
partly written frame), and is written by whoever holds the write lock next,
or by a background flusher. So concurrent sends never interleave frames,
and nothing goes after a close frame (RFC 6455 5.5.1).
"""

from __future__ import annotations

import socket as stdlib_socket
import time
from typing import Any

import gevent
from gevent.lock import Semaphore

from ..exceptions import ConnectionClosed
from . import counters
from .base import _OPEN, Connection, logger

__all__ = ["Writing"]


class _SendTimeout(Exception):
    """The send timeout fired (distinct from the socket's own timeouts)."""


class Writing(Connection):
    """Pending output and the ways it reaches the socket."""

    __slots__ = ("_flusher", "_out", "_out_bytes", "_write_lock")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._write_lock = Semaphore()
        # Serialized bytes not written yet, in protocol order; the head may be
        # a partly written frame (a memoryview of its rest).
        self._out: list[Any] = []
        self._out_bytes = 0
        self._flusher: gevent.Greenlet[Any, Any] | None = None

    def _write_now(self, data: bytes | memoryview, more: bytes | memoryview = b"") -> int:
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
            self._abort(exc)
            return -1

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
        out = self._out
        while out:
            data = out[0]
            if not data:
                return  # EOF: left to _flush(), after everything else
            sent = self._write_now(data)
            if sent <= 0:
                return  # full, or dropped
            self._out_bytes -= sent
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
        sent = self._write_now(data)
        if sent == len(data):  # the usual case: the kernel took it all
            return
        if sent < 0:
            raise self._closed_error()
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
            self._abort(f"the client did not read {len(data)} bytes within {timeout}s "
                        f"(WEBSOCKET_SEND_TIMEOUT)")
            raise TimeoutError(
                f"the client did not read {len(data)} bytes within {timeout} seconds; "
                f"the connection was dropped (WEBSOCKET_SEND_TIMEOUT)"
            ) from None
        except OSError as exc:
            self._abort(exc)
            raise self._closed_error() from None
