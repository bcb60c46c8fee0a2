"""The handshake: checking the request, negotiating, sending the 101.

The HTTP server already parsed the request: the protocol starts in the
OPEN state, its parser waiting for frames, and the view decides. Until the
101 is written, the view may still answer with any HTTP response, and change
the options (``configure()``) and the subprotocol.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ..exceptions import ConnectionClosed, WebSocketUsageError
from ..options import ConnectionOptions
from ..protocol import FrameBudget, WebSocketProtocol, offered_subprotocols
from .base import _OPEN
from .reading import _BUSY_AFTER, Reading
from .registry import open_connections

__all__ = ["Handshake", "open_handshake"]

# websockets logs each connection's opening and closing at INFO level; keep
# its own logger name so that its documentation on logging applies as is.
protocol_logger = logging.getLogger("websockets.server")


def frame_budget(options: ConnectionOptions) -> FrameBudget | None:
    """The protocol's budget of frames that make no message; None without limits."""
    if options.max_fragments is None and options.max_control_frames is None:
        return None
    return FrameBudget(max_fragments=options.max_fragments,
                       max_control_frames=options.max_control_frames)


def open_handshake(
    request: Request, options: ConnectionOptions
) -> tuple[WebSocketProtocol, Response]:
    """Check a handshake request; nothing is sent yet.

    The HTTP server already parsed the request: the protocol starts in the
    OPEN state, its parser waiting for frames, and ``accept()`` only checks
    the request and negotiates (RFC 6455 4.2.1, 4.2.2). The 101, or the
    refusal, is written by the caller.

    Returns:
        The protocol and the response to send: a 101 to send when the view
        accepts, or a 4xx explaining what is wrong with the request, to send
        at once instead of running the view.
    """
    protocol = WebSocketProtocol(
        state=_OPEN,
        extensions=options.extensions,
        max_size=options.max_message_size,
        logger=protocol_logger,
        budget=frame_budget(options),
    )
    return protocol, protocol.accept(request)


class Handshake(Reading):
    """What the request offered, and the answer to it."""

    __slots__ = ("_offered", "_options_overridden", "_origin", "_request", "_response")

    def __init__(self, *, request: Request, response: Response, **kwargs: Any) -> None:
        super().__init__(request=request, **kwargs)
        # The handshake, kept until the 101 is sent (the view may still change
        # the negotiation); only what the properties below need stays.
        self._request: Request | None = request
        self._response: Response | None = response
        self._origin = request.headers.get("Origin")
        self._offered = tuple(offered_subprotocols(request.headers))
        self._options_overridden = False

    @property
    def origin(self) -> str | None:
        """The ``Origin`` header (RFC 6454), None for most non-browser clients."""
        return self._origin

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self._offered)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, if any.

        Before the 101 is sent: the one it will agree on, the first of the
        view's ``subprotocols`` that the client offered.
        """
        if not self._accepted:
            return self._pending_subprotocol()
        return self.protocol.subprotocol

    def _pending_subprotocol(self) -> str | None:
        offered = self._offered
        return next((p for p in self._options.subprotocols or () if p in offered), None)

    def configure(self, **changes: Any) -> None:
        """Override options for this connection before it is accepted.

        The decorators call this with their keyword arguments.

        Raises:
            WebSocketUsageError: the handshake was already answered.
        """
        if self._accepted:
            raise WebSocketUsageError("options can only change before the connection is accepted")
        self._options = self._options.replace(**changes)
        self._options_overridden = True
        self._queue.maxsize = max(1, self._options.max_queue)
        self._queue.maxbytes = self._options.max_queue_bytes

    def accept(self, subprotocol: str | None = None) -> None:
        """Send the 101 response; a no-op once accepted.

        Args:
            subprotocol: one of ``subprotocols`` to agree on (RFC 6455
                4.2.2). By default the first of the decorator's
                ``subprotocols`` that the client offered, else none.

        Raises:
            WebSocketUsageError: ``subprotocol`` was not offered by the
                client, or differs from the one already agreed.
        """
        protocol = self.protocol
        if self._accepted:
            if subprotocol is not None and subprotocol != protocol.subprotocol:
                raise WebSocketUsageError(
                    f"the connection was already accepted with subprotocol "
                    f"{protocol.subprotocol!r}; cannot switch to {subprotocol!r}"
                )
            return
        if subprotocol is None:
            subprotocol = self._pending_subprotocol()
        elif subprotocol not in self._offered:
            raise WebSocketUsageError(
                f"subprotocol {subprotocol!r} was not offered by the client; "
                f"it offered {self.subprotocols!r}"
            )
        response, request = self._response, self._request
        assert response is not None and request is not None  # not accepted yet
        if self._options_overridden:
            # Negotiate again: the view may have changed compression.
            protocol.available_extensions = self._options.extensions
            protocol.max_message_size = self._options.max_message_size
            protocol.budget = frame_budget(self._options)
            response = protocol.accept(request)
        if subprotocol is not None:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
            protocol.subprotocol = Subprotocol(subprotocol)
        # Written by us, not protocol.send_response(): the protocol never
        # parsed the request (see open_handshake) and is already OPEN.
        head = response.serialize()
        self._request = self._response = None  # about 2 KiB per connection
        self._queue_output(head)
        self._accepted = True
        self.opened_at = time.monotonic()
        self._busy_timer = gevent.get_hub().loop.timer(_BUSY_AFTER)
        self._on_busy = self._start_background_reader  # bound once, started per message
        self._arm_keepalive(self._options.ping_interval)
        open_connections.add(self)  # type: ignore[arg-type]  # the layers build one WebSocket
        # The object is whole before the write that can fail: a client gone
        # meanwhile leaves a closed connection (wait() returns None, send()
        # raises ConnectionClosed), never an error of ours in the view.
        try:
            self._flush(self._options.send_timeout)
        except (ConnectionClosed, TimeoutError):
            pass  # _sendall() dropped the connection
        self.bytes_out = 0  # the 101 is not a frame
        self._view_busy()  # until the view first waits
