"""Secrets out of the logs: the values of credential-like query parameters.

Clients without cookies often pass a token in the query string
(``/ws/feed/?token=...``), and a request line in an access log would keep it
for as long as the log lives. Every line django_ws writes, and its connection
registry, show such values as ``[redacted]``; the parameter names are
``WEBSOCKET_REDACT_QUERY_PARAMS`` (``django_ws.conf`` passes them in through
:func:`use_names`; without Django, the setting's default). A name matches,
in any case, when it equals one of them, ends with one after ``_`` or ``-`` (``refresh_token``,
``x-api-key``), or its last word is one: words split at ``_``, ``-``, ``.``,
brackets and camelCase (``accessToken``, ``authToken``, ``token[]``,
``user[token]``). Other parameters, and the path, are left exactly as they
were sent.

The values of the handshake's headers that may carry a credential
(``SENSITIVE_HEADERS``: a token sent as a subprotocol, as browsers cannot set
``Authorization``) are never logged either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote_plus

from ..options import DEFAULTS

__all__ = ["REDACTED", "SENSITIVE_HEADERS", "redact_query", "redact_requestline",
           "redact_target", "use_names"]

REDACTED = "[redacted]"

#: Headers whose values stay out of log lines (lower-case names).
SENSITIVE_HEADERS = frozenset({
    "sec-websocket-protocol", "authorization", "proxy-authorization", "cookie",
})

# A word: a capitalised or lower-case run (camelCase), or an upper-case run
# not followed by lower case (the "API" of "APIKey").
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def _is_secret(name: str, secrets: frozenset[str]) -> bool:
    name = unquote_plus(name)
    lower = name.lower()
    if lower in secrets:
        return True
    for separator in ("_", "-"):
        head, found, tail = lower.rpartition(separator)
        if found and tail in secrets:
            return True
    words = _WORDS.findall(name)
    return bool(words) and words[-1].lower() in secrets


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


#: The default names, without Django: the setting's default.
_DEFAULT_NAMES = frozenset(name.lower() for name in DEFAULTS["WEBSOCKET_REDACT_QUERY_PARAMS"])
_provider: list[Callable[[], frozenset[str]]] = []


def use_names(names: Callable[[], frozenset[str]]) -> None:
    """Where the default names come from: ``django_ws.conf`` passes the
    ``WEBSOCKET_REDACT_QUERY_PARAMS`` setting in (this core needs no Django)."""
    _provider[:] = [names]


def _names() -> frozenset[str]:
    return _provider[0]() if _provider else _DEFAULT_NAMES
