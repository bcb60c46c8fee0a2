"""The Origin check that blocks cross-site WebSocket hijacking.

Browsers send ``Origin`` with every WebSocket handshake and, unlike for
``fetch``, no CORS preflight protects the server: a page on any site could
open a socket to ours with the user's cookies. As Tornado's ``check_origin``
does, a handshake is allowed when its Origin's host is the request's host, or
the origin is listed in ``WEBSOCKET_ALLOWED_ORIGINS``. A request without
Origin (a non-browser client, which has no ambient cookies to abuse) passes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest

from .conf import settings

__all__ = ["origin_allowed"]


def origin_allowed(request: HttpRequest) -> bool:
    """Whether the handshake's Origin may open a WebSocket on this request."""
    # META, not request.headers: that would build and keep a second copy of
    # every header for the connection's whole life.
    origin: str | None = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return True
    allowed = settings.ALLOWED_ORIGINS
    if "*" in allowed:
        return True
    origin = origin.strip().lower()
    if origin in (entry.lower().rstrip("/") for entry in allowed):
        return True
    # get_host() also enforces ALLOWED_HOSTS (DisallowedHost -> 400).
    return urlsplit(origin).netloc == request.get_host().lower()
