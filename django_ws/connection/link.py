"""The link: the TCP connection under a WebSocket, and how it ends.

What every part of a connection reads and none owns alone: the socket, its
peer (for log lines), whether the TCP connection failed under us, which side
started the closing, and the steps any part may take when something goes
wrong: describe the connection in a log line, drop it, count a policy close.
The parts hold the link, not the connection: it refers to none of them, so
no reference cycle keeps an ended connection alive.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
from collections.abc import Callable
from typing import Any

from websockets.frames import Close, CloseCode
from websockets.protocol import State

from ..exceptions import ConnectionClosed
from ..protocol import WebSocketProtocol
from . import counters
from .inbox import Inbox
from .redaction import redact_target

__all__ = ["Link"]

logger = logging.getLogger("django_ws.connection")


class Link:
    """A connection's socket and peer, whether it failed, who started the close."""

    __slots__ = ("_inbox", "_peer", "_protocol", "closed_by_client", "lost", "path", "sock")

    def __init__(self, sock: Any, path: str, protocol: WebSocketProtocol, inbox: Inbox) -> None:
        self.sock = sock
        self.path = path  # with its query string
        self._protocol = protocol
        self._inbox = inbox  # closed when the link drops: wakes a waiting view
        # For log lines about this connection's faults; taken now, while the
        # socket is connected (after a reset, getpeername() fails).
        try:
            self._peer: Any = sock.getpeername()
        except OSError:
            self._peer = None
        #: The TCP connection failed under us, or we dropped it.
        self.lost = False
        #: True when the client sent the first close frame, False when we did.
        self.closed_by_client: bool | None = None

    def describe(self) -> str:
        """The connection in a log line: its path (secrets redacted) and its peer."""
        peer = self._peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            peer = f"{peer[0]}:{peer[1]}"
        return f"{redact_target(self.path)} from {peer or '-'}"

    def step(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """One step of the end of the connection: a failure is logged, not raised,
        so that the steps after it run."""
        try:
            function(*args, **kwargs)
        except Exception:
            logger.exception("error in %s of WebSocket %s", what, self.describe())

    def lose(self, cause: object) -> None:
        """The connection failed under us: say why, once (a 1006 says nothing)."""
        if not self.lost:
            self.lost = True
            if isinstance(cause, BaseException):
                cause = f"{type(cause).__name__}: {cause}"
            logger.info("WebSocket %s lost: %s", self.describe(), cause)

    def abort(self, cause: object = None) -> None:
        """Drop the TCP connection; wakes the reader and any blocked writer.

        Args:
            cause: why, when it is not our decision (logged by lose()).
        """
        if cause is not None:
            self.lose(cause)
        self.lost = True
        self._inbox.close()
        try:
            self.sock.shutdown(stdlib_socket.SHUT_RDWR)
        except OSError:
            pass

    def policy_close(self, reason: str, cause: str) -> None:
        """Log and count a close with 1008 for what the client sent, once.

        ``reason`` is a bounded label (``django_ws_policy_closes_total``);
        ``cause`` says what the client did and which setting allows more.
        """
        logger.info("WebSocket %s closed with 1008: %s", self.describe(), cause)
        counters.policy_close(reason)

    def first_close(self) -> Close | None:
        """The close frame that started the closing handshake, whichever side
        sent it: its code says why the connection ended (RFC 6455 7.1.5)."""
        protocol = self._protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and sent is not None:
            return received if protocol.close_rcvd_then_sent else sent
        return received or sent

    def close_code(self) -> int | None:
        """The code of the close frame that started the closing; 1006 when the
        TCP connection ended without one; None while open."""
        close = self.first_close()
        if close is not None:
            return close.code
        if self.lost or self._protocol.state is State.CLOSED:
            return CloseCode.ABNORMAL_CLOSURE
        return None

    def closed_error(self) -> ConnectionClosed:
        """What a view gets for using the connection once it ended."""
        close = self.first_close()
        return ConnectionClosed(self.close_code(), close.reason if close is not None else "")

    def ended_by_client(self) -> bool:
        """Whether the client ended it: its close frame, a lost connection, or
        its protocol error; not the server's own close() (the view's, say).

        A view that meets ConnectionClosed then did nothing wrong: messages
        it iterated were queued before the client's close, and its answer
        found the connection gone. That is the client leaving, not an error
        to log with a traceback.
        """
        return self.closed_by_client is not False
