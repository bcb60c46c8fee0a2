"""``WEBSOCKET_MAX_CONNECTIONS_PER_USER``: a user's connections, capped in every process.

Before any 101, the handshake of an authenticated user takes a slot in the
user's count (``django_ws.groups.user_slots``), kept by the ``"default"``
groups backend: this process's memory, or Redis, shared by every process.
Past the cap the client gets 429 with ``Retry-After``; with the policy
``"close_oldest"`` it is let in and the user's oldest connection closes
with 4429 (the "newest tab wins" that projects write by hand). The slot is
given back when the connection ends, however it ends.

Anonymous users are not counted: they have no identity that a count could
follow across processes (one key for all of them would be a shared cap
that one client fills for everyone; the address is the proxy's, or a
NAT's). ``WEBSOCKET_MAX_CONNECTIONS`` and the proxy's limits cover them.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse

from .conf import settings
from .connection.redaction import redact_target
from .groups import get_backend
from .groups.disconnect import Order, user_key
from .groups.user_slots import REPLACED, make_slot
from .request import retry_later

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket

__all__ = ["OPTION", "check_option", "give_back_when_ended", "take_slot"]

logger = logging.getLogger("django_ws.handler")

#: The per-view option (``@accept_websocket(max_connections_per_user=N)``):
#: the view's connections are counted apart, against N (None: not counted).
OPTION = "max_connections_per_user"


def check_option(value: Any, where: str) -> None:
    """Raise TypeError at import time for a per-view cap that is not one."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value <= 0):
        raise TypeError(f"{OPTION}={value!r} for {where}; expected a positive int or None")


def take_slot(request: HttpRequest, websocket: WebSocket, options: dict[str, Any],
              view_name: str) -> HttpResponse | Callable[[], None] | None:
    """Count this connection in its user's.

    ``options``: the view's, where ``OPTION`` overrides the setting (then
    the count is the view's own).

    Returns:
        The 429 to answer past the cap; else, when the connection was
        counted, the function that gives its slot back, to be called when it
        ends (the connection's ``user_slot`` is set); else None.
    """
    if OPTION in options:
        limit, scope = options[OPTION], f"view:{view_name}"
    else:
        limit, scope = settings.MAX_CONNECTIONS_PER_USER, "*"
    if limit is None:
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None  # see the module's docstring
    key = user_key(user)
    assert key is not None
    backend = get_backend()
    slot = make_slot(uuid.uuid4().hex)
    replace = settings.MAX_CONNECTIONS_PER_USER_POLICY == "close_oldest"
    taken, replaced = backend.user_slots.claim(scope, key, slot, limit, replace)
    if not taken:
        logger.info("WebSocket handshake refused for %r: 429 Too Many Requests (user %s has "
                    "%d connections, WEBSOCKET_MAX_CONNECTIONS_PER_USER)",
                    redact_target(request.get_full_path()), key, limit)
        return retry_later(429, f"this user has {limit} open already "
                                f"(WEBSOCKET_MAX_CONNECTIONS_PER_USER); close one and try again.",
                           settings.RETRY_AFTER)
    websocket.user_slot = slot
    for old in replaced:
        try:
            backend.disconnect(Order(key, None, REPLACED, "replaced by a newer connection",
                                     slot=old))
        except Exception:
            # Redis down: the old connection stays open, over the cap, until
            # it ends; the new one is not refused for it.
            logger.exception("cannot close user %s's oldest WebSocket connection", key)
    return functools.partial(backend.user_slots.release, scope, key, slot)


def give_back_when_ended(websocket: WebSocket, release: Callable[[], None]) -> None:
    """After the view: release the slot when the connection ends (now, if
    it was never accepted: the view answered in HTTP)."""
    if websocket.accepted:
        websocket.add_cleanup(lambda _: release())
        return
    try:
        release()
    except Exception:  # Redis down: the slot expires, not refreshed any more
        logger.exception("cannot release a connection slot of %r", websocket)
