"""dwebsocket's ``WebSocketMiddleware``, for ``MIDDLEWARE``.

django_ws's middleware, with dwebsocket's rules for the views it lets in: a
view accepts WebSockets when decorated, when it has the attribute
``accept_websocket = True`` (dwebsocket's documented opt-in), or with
``WEBSOCKET_ACCEPT_ALL``; then it gets dwebsocket's ``request.websocket``
(see :mod:`django_ws.compat.dwebsocket.websocket`). A view with
``require_websocket = True`` answers plain HTTP with 400, as dwebsocket's
middleware did. Put it last in ``MIDDLEWARE`` (check ``django_ws.W001``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from ...middleware import WebSocketMiddleware as NativeWebSocketMiddleware
from ...request import VIEW_MARKER
from .decorators import accept_websocket, require_websocket

__all__ = ["WebSocketMiddleware"]


def _required(view_func: Callable[..., Any]) -> bool:
    return getattr(view_func, "require_websocket", False) is True


class WebSocketMiddleware(NativeWebSocketMiddleware):
    """Attach ``request.websocket``; let in the views dwebsocket's middleware let in."""

    def websocket_decorator(self, view_func: Callable[..., Any]) -> Callable[..., Any] | None:
        # The native rules say whether; dwebsocket's decorators give its socket.
        if super().websocket_decorator(view_func) is None:
            return None
        return require_websocket if _required(view_func) else accept_websocket

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if (request.websocket is None  # type: ignore[attr-defined]
                and not hasattr(view_func, VIEW_MARKER) and _required(view_func)):
            return HttpResponseBadRequest(
                "This URL only speaks WebSocket.", content_type="text/plain"
            )
        return super().process_view(request, view_func, view_args, view_kwargs)
