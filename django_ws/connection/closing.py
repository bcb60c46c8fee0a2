"""Closing: the closing handshake, and the end that always runs to its end."""

from __future__ import annotations

from websockets.frames import CloseCode

from ..exceptions import ConnectionClosed
from . import counters
from .base import _OPEN, logger
from .handshake import Handshake
from .registry import open_connections

__all__ = ["Closing"]


class Closing(Handshake):
    """close() and finish()."""

    __slots__ = ()

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
        self._after_close()

    def _after_close(self) -> None:
        """What the layers above do once close() returned (detached.py ends there)."""

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
        self._run_cleanups()  # leaving its groups, say (add_cleanup())
        for timer in (self._keepalive, self._busy_timer, self._rate_timer):
            if timer is not None:
                timer.close()
        for greenlet in (self._reader, self._flusher):
            if greenlet is not None and not greenlet.dead:
                greenlet.kill(block=False)
        self._queue.close()
        # Nothing may keep the connection in a reference cycle: the last
        # reference gone, it is freed at once (its buffers, its inbox), not
        # at the next full collection of the cyclic GC.
        self._on_busy = None  # a bound method of self: self -> method -> self
        self._drop_parser_traceback()  # its frames hold self (see reading.py)
        self._queue.drop()
        if self in open_connections:  # once: its counts join the process's totals
            counters.fold(self)  # type: ignore[arg-type]  # see handshake.py
        open_connections.discard(self)  # type: ignore[arg-type]  # see handshake.py
