"""``from dwebsocket.backends.default.websocket import DefaultWebSocket``, ported.

dwebsocket's class of ``request.websocket``, which projects name in type
annotations and ``isinstance`` checks: here, the compat layer's
:class:`~django_ws.compat.dwebsocket.websocket.WebSocket`.
"""

from __future__ import annotations

from ...websocket import WebSocket as DefaultWebSocket

__all__ = ["DefaultWebSocket"]
