"""The handshake: checking the request, negotiating, the 101's bytes.

The HTTP server already parsed the request: the protocol starts in the
OPEN state, its parser waiting for frames, and the view decides. Until the
101 is written, the view may still answer with any HTTP response, and change
the options (``configure()``) and the subprotocol.
"""

from __future__ import annotations

import logging

from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from ..exceptions import WebSocketUsageError
from ..options import ConnectionOptions
from ..protocol import FrameBudget, WebSocketProtocol, offered_subprotocols

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
        state=State.OPEN,
        extensions=options.extensions,
        max_size=options.max_message_size,
        logger=protocol_logger,
        budget=frame_budget(options),
    )
    return protocol, protocol.accept(request)


class Handshake:
    """What the request offered, and the answer to it.

    The request and the response are kept until the 101 is sent (the view
    may still change the negotiation); only what the connection's
    properties need stays after.
    """

    __slots__ = ("_request", "_response", "offered", "options_changed", "origin")

    def __init__(self, request: Request, response: Response) -> None:
        self._request: Request | None = request
        self._response: Response | None = response
        #: The ``Origin`` header (RFC 6454).
        self.origin = request.headers.get("Origin")
        #: The subprotocols the client offered, in its order of preference.
        self.offered = tuple(offered_subprotocols(request.headers))
        #: configure() changed the options: negotiate again at accept().
        self.options_changed = False

    def agreed_subprotocol(self, options: ConnectionOptions) -> str | None:
        """The first of the view's ``subprotocols`` that the client offered."""
        offered = self.offered
        return next((p for p in options.subprotocols or () if p in offered), None)

    def response_head(self, protocol: WebSocketProtocol, options: ConnectionOptions,
                      subprotocol: str | None) -> bytes:
        """The 101 response's bytes, agreeing on ``subprotocol``; once.

        Raises:
            WebSocketUsageError: ``subprotocol`` was not offered by the client.
        """
        if subprotocol is None:
            subprotocol = self.agreed_subprotocol(options)
        elif subprotocol not in self.offered:
            raise WebSocketUsageError(
                f"subprotocol {subprotocol!r} was not offered by the client; "
                f"it offered {list(self.offered)!r}"
            )
        response, request = self._response, self._request
        assert response is not None and request is not None  # not accepted yet
        if self.options_changed:
            # Negotiate again: the view may have changed compression.
            protocol.available_extensions = options.extensions
            protocol.max_message_size = options.max_message_size
            protocol.budget = frame_budget(options)
            response = protocol.accept(request)
        if subprotocol is not None:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
            protocol.subprotocol = Subprotocol(subprotocol)
        self._request = self._response = None  # about 2 KiB per connection
        # Written by the connection, not protocol.send_response(): the
        # protocol never parsed the request (see open_handshake) and is
        # already OPEN.
        return response.serialize()
