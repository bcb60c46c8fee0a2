"""``WebSocketMiddleware``: ``request.is_websocket()`` and ``request.websocket``.

The middleware is optional: the decorators attach the same attributes. With
it, every request has them, and an upgrade request to a view that did not ask
for WebSockets is refused with 400 before any 101 (unless
``WEBSOCKET_ACCEPT_ALL``). Place it last in ``MIDDLEWARE``: its
``process_view`` answers WebSocket requests itself, so middleware after it
would not see them in ``process_view``. A view with the attribute
``accept_websocket = True`` (dwebsocket's opt-in) accepts WebSockets as if
decorated with ``accept_websocket``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from .conf import settings
from .decorators import accept_websocket
from .request import VIEW_MARKER, attach_websocket

__all__ = ["VIEW_MARKER", "WebSocketMiddleware", "attach_websocket"]


class WebSocketMiddleware:
    """Attach ``request.websocket``; refuse upgrades to views that do not speak it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Each undecorated view decorated once, not on every request: by
        # view, the decorator used and the view it made (the settings may
        # change the decorator, in tests).
        self._decorated: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        attach_websocket(request)
        return self.get_response(request)

    def websocket_decorator(self, view_func: Callable[..., Any]) -> Callable[..., Any] | None:
        """The decorator that lets an undecorated view accept WebSockets, or None (400).

        With ``WEBSOCKET_ACCEPT_ALL``, or for a view with the attribute
        ``accept_websocket = True``: dwebsocket's README documents it as the opt-in.
        """
        if settings.ACCEPT_ALL or getattr(view_func, "accept_websocket", False) is True:
            return accept_websocket
        return None

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.websocket is None or hasattr(view_func, VIEW_MARKER):  # type: ignore[attr-defined]
            return None
        decorator = self.websocket_decorator(view_func)
        if decorator is not None:
            view = self._decorate(view_func, decorator)
            response: HttpResponse = view(request, *view_args, **view_kwargs)
            return response
        return HttpResponseBadRequest(
            f"{request.path} does not accept WebSocket connections: decorate its view "
            f"with @accept_websocket or @require_websocket (or set its attribute "
            f"accept_websocket = True), or set WEBSOCKET_ACCEPT_ALL = True.",
            content_type="text/plain",
        )

    def _decorate(
        self, view_func: Callable[..., Any], decorator: Callable[..., Any]
    ) -> Callable[..., Any]:
        try:
            used, view = self._decorated[view_func]
        except (KeyError, TypeError):  # TypeError: not weakly referenceable
            used = view = None
        if used is not decorator:
            view = decorator(view_func)
            try:
                self._decorated[view_func] = (decorator, view)
            except TypeError:
                pass
        return view  # type: ignore[no-any-return]
