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

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from . import ENVIRON_KEY
from .conf import settings

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket

__all__ = ["WebSocketMiddleware", "attach_websocket"]

logger = logging.getLogger(__name__)

#: The attribute the decorators set on the view they wrap.
VIEW_MARKER = "django_ws_view"


def attach_websocket(request: HttpRequest) -> WebSocket | None:
    """Give ``request`` its ``websocket`` and ``is_websocket()``; idempotent.

    Returns:
        The connection, or None for a plain HTTP request.
    """
    try:
        return request.websocket  # type: ignore[attr-defined, no-any-return]
    except AttributeError:
        pass
    websocket: WebSocket | None = request.META.get(ENVIRON_KEY)
    request.websocket = websocket  # type: ignore[attr-defined]
    request.is_websocket = (  # type: ignore[attr-defined]
        _yes if websocket is not None else _no
    )
    return websocket


def _yes() -> bool:
    return True


def _no() -> bool:
    return False


_warned_unserved = False


def unserved_upgrade(request: HttpRequest) -> HttpResponse | None:
    """A 400 for an upgrade request that reached Django without our server.

    ``runserver`` and other plain WSGI servers cannot hand over the socket:
    say so, instead of letting the view answer a handshake with a page. A
    browser shows only "Unexpected response code: 400", so the server's
    console says it too, once per process.
    """
    if "websocket" in request.headers.get("Upgrade", "").lower():
        global _warned_unserved
        if not _warned_unserved:
            _warned_unserved = True
            logger.warning(
                "A WebSocket handshake for %s reached Django through a server that cannot "
                "upgrade it (runserver, or gunicorn's stock gevent worker) and got 400. Serve "
                "the project with `python manage.py runws`, or gunicorn with "
                "`-k django_ws.gunicorn.GeventWebSocketWorker`. (Logged once per process.)",
                request.path,
            )
        return HttpResponseBadRequest(
            "This server cannot speak WebSocket: serve the project with "
            "`manage.py runws` (or django_ws's gunicorn worker).",
            content_type="text/plain",
        )
    return None


class WebSocketMiddleware:
    """Attach ``request.websocket``; refuse upgrades to views that do not speak it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        attach_websocket(request)
        return self.get_response(request)

    def websocket_decorator(self, view_func: Callable[..., Any]) -> Callable[..., Any] | None:
        """The decorator that lets an undecorated view accept WebSockets, or None (400).

        With ``WEBSOCKET_ACCEPT_ALL``, or for a view with the attribute
        ``accept_websocket = True``: dwebsocket's README documents it as the opt-in.
        """
        if settings.ACCEPT_ALL or getattr(view_func, "accept_websocket", False) is True:
            from .decorators import accept_websocket

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
            response: HttpResponse = decorator(view_func)(request, *view_args, **view_kwargs)
            return response
        return HttpResponseBadRequest(
            f"{request.path} does not accept WebSocket connections: decorate its view "
            f"with @accept_websocket or @require_websocket (or set its attribute "
            f"accept_websocket = True), or set WEBSOCKET_ACCEPT_ALL = True.",
            content_type="text/plain",
        )
