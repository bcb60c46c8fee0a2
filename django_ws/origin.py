"""The Origin check that blocks cross-site WebSocket hijacking.

Browsers send ``Origin`` with every WebSocket handshake and, unlike for
``fetch``, no CORS preflight protects the server: a page on any site could
open a socket to ours with the user's cookies. As Django's CSRF origin check
does, a handshake is allowed when its Origin is the request's own (scheme,
host and port: ``https://`` when ``request.is_secure()``, so a site behind a
TLS proxy sets ``SECURE_PROXY_SSL_HEADER``, as Django's CSRF check needs
too), or is listed in ``WEBSOCKET_ALLOWED_ORIGINS``. A page on
``http://example.com`` is not trusted by ``https://example.com``: a network
attacker can run scripts there. A request without Origin (a non-browser
client, which has no ambient cookies to abuse) passes.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from .conf import settings
from .connection.redaction import redact_target

__all__ = ["forbidden_origin", "origin_allowed"]

# The handshake refusals' logger.
logger = logging.getLogger("django_ws.handler")


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
    own = f"{'https' if request.is_secure() else 'http'}://{request.get_host().lower()}"
    return _same_origin(origin, own)


def _same_origin(origin: str, own: str) -> bool:
    """RFC 6454 4: the same scheme, host and port (a default port may be left out)."""
    try:
        theirs, ours = urlsplit(origin), urlsplit(own)
        return (theirs.scheme, theirs.hostname, _port(theirs)) == (
            ours.scheme, ours.hostname, _port(ours))
    except ValueError:  # a port that is not a number: not ours
        return False


def _port(url: Any) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def forbidden_origin(request: HttpRequest) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN")
    # %r: the client's bytes (see handler._send_rejection).
    logger.info("WebSocket handshake refused for %r: 403 Forbidden (origin %r is not the "
                "site's own nor in WEBSOCKET_ALLOWED_ORIGINS)",
                redact_target(request.get_full_path()), origin)
    return HttpResponseForbidden(
        f"Origin {origin!r} may not open a WebSocket here (see WEBSOCKET_ALLOWED_ORIGINS).",
        content_type="text/plain",
    )
