"""What a request gets on a WebSocket server: ``request.websocket``.

Shared by the decorators, ``WebSocketView`` and the middleware, which all
depend on this and not on each other's modules.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket

__all__ = ["ENVIRON_KEY", "VIEW_MARKER", "attach_websocket", "retry_later", "unserved_upgrade"]

#: The WSGI environ key under which our server hands a WebSocket upgrade
#: request's connection to the application (see ``django_ws.server.handler``).
ENVIRON_KEY = "django_ws.websocket"

logger = logging.getLogger("django_ws.middleware")  # the name it logged under before

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


def retry_later(status: int, reason: str, retry_after: int) -> HttpResponse:
    """A refusal before any 101 that the client may try again after
    ``retry_after`` seconds (503: the server is busy; 429: the user's cap)."""
    refusal = HttpResponse(f"Failed to open a WebSocket connection: {reason}\n", status=status,
                           content_type="text/plain")
    refusal["Retry-After"] = str(retry_after)
    return refusal

