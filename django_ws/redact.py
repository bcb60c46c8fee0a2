"""Secrets out of the logs: the values of credential-like query parameters.

Clients without cookies often pass a token in the query string
(``/ws/feed/?token=...``), and a request line in an access log would keep it
for as long as the log lives. Every line django_ws writes, and its connection
registry, show such values as ``[redacted]``; the parameter names are
``WEBSOCKET_REDACT_QUERY_PARAMS``. A name matches when it equals one of them or
ends with one after ``_`` or ``-`` (``refresh_token``, ``x-api-key``), in any
case. Other parameters, and the path, are left exactly as they were sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_plus

__all__ = ["REDACTED", "redact_query", "redact_requestline", "redact_target"]

REDACTED = "[redacted]"


def _is_secret(name: str, secrets: frozenset[str]) -> bool:
    name = unquote_plus(name).lower()
    if name in secrets:
        return True
    for separator in ("_", "-"):
        head, found, tail = name.rpartition(separator)
        if found and tail in secrets:
            return True
    return False


def redact_query(query: str, secrets: Iterable[str] | None = None) -> str:
    """``query`` with the values of secret parameters replaced by ``[redacted]``.

    Args:
        query: a query string, without the ``?``.
        secrets: lower-case parameter names; by default the setting's.
    """
    names = _names() if secrets is None else frozenset(secrets)
    if not names:
        return query
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and _is_secret(name, names):
            parts[index] = f"{name}={REDACTED}"
            changed = True
    return "&".join(parts) if changed else query


def redact_target(target: str, secrets: Iterable[str] | None = None) -> str:
    """A request target (path and query string) fit for a log line."""
    path, question, query = target.partition("?")
    if not question:
        return target
    return f"{path}?{redact_query(query, secrets)}"


def redact_requestline(line: str, secrets: Iterable[str] | None = None) -> str:
    """An HTTP request line (``GET /path?query HTTP/1.1``) fit for a log line."""
    if "?" not in line:
        return line
    parts = line.split(" ")  # method, target[, version]
    if len(parts) >= 2:
        parts[1] = redact_target(parts[1], secrets)
    return " ".join(parts)


def _names() -> frozenset[str]:
    from .conf import settings

    return settings.REDACT_QUERY_PARAMS
