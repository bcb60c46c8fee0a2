"""System checks (``manage.py check``): misconfiguration fails early.

Ids are stable and never renumbered; the README lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS

MIDDLEWARE_PATH = "django_ws.middleware.WebSocketMiddleware"

_NUMBERS: dict[str, tuple[type, ...]] = {
    "WEBSOCKET_MAX_MESSAGE_SIZE": (int,),
    "WEBSOCKET_MAX_QUEUE": (int,),
    "WEBSOCKET_PING_INTERVAL": (int, float),
    "WEBSOCKET_PING_TIMEOUT": (int, float),
    "WEBSOCKET_SEND_TIMEOUT": (int, float),
    "WEBSOCKET_CLOSE_TIMEOUT": (int, float),
    "WEBSOCKET_HANDSHAKE_TIMEOUT": (int, float),
}
_NOT_NULLABLE = {"WEBSOCKET_MAX_QUEUE"}


@register(Tags.compatibility)
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        if getattr(django_settings, "WEBSOCKET_ACCEPT_ALL", False):
            return [Error(
                "WEBSOCKET_ACCEPT_ALL is True but WebSocketMiddleware is not in MIDDLEWARE, "
                "so undecorated views cannot accept WebSockets.",
                hint=f"Add {MIDDLEWARE_PATH!r} at the end of MIDDLEWARE.",
                id="django_ws.E001",
            )]
        return []
    if middleware[-1] != MIDDLEWARE_PATH:
        return [Warning(
            "WebSocketMiddleware is not last in MIDDLEWARE: middleware after it does not "
            "see WebSocket requests in process_view().",
            hint=f"Move {MIDDLEWARE_PATH!r} to the end of MIDDLEWARE.",
            id="django_ws.W001",
        )]
    return []


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    for name, types in _NUMBERS.items():
        value = getattr(django_settings, name, DEFAULTS[name])
        nullable = name not in _NOT_NULLABLE
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types) or value <= 0:
            expected = "a positive number" + (" or None" if nullable else "")
            errors.append(Error(
                f"{name} is {value!r}; expected {expected}.",
                hint=f"Set {name} to a positive number, or remove it to use the default "
                     f"{DEFAULTS[name]!r}.",
                id="django_ws.E002",
            ))
    origins = getattr(django_settings, "WEBSOCKET_ALLOWED_ORIGINS", [])
    if isinstance(origins, str) or not all(
        isinstance(o, str) and (o == "*" or "://" in o) for o in origins
    ):
        errors.append(Error(
            f"WEBSOCKET_ALLOWED_ORIGINS is {origins!r}; expected a list of origins such as "
            f"'https://app.example.com', or ['*'] to allow every origin.",
            id="django_ws.E003",
        ))
    compression = getattr(django_settings, "WEBSOCKET_COMPRESSION", DEFAULTS["WEBSOCKET_COMPRESSION"])
    if compression is not None:
        error = _compression_error(compression)
        if error:
            errors.append(Error(
                f"WEBSOCKET_COMPRESSION is {compression!r}: {error}.",
                hint="Use None to turn compression off, or a dict of options of "
                     "websockets' ServerPerMessageDeflateFactory.",
                id="django_ws.E004",
            ))
    return errors


def _compression_error(compression: Any) -> str | None:
    if not isinstance(compression, Mapping):
        return "expected a dict or None"
    from .protocol import compression_extensions

    try:
        compression_extensions(compression)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None
