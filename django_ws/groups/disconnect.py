"""Closing connections from anywhere: a user's, or a group's, in every process.

``django_ws.groups.disconnect(user=..., group=...)`` makes an :class:`Order`;
the groups backend carries it to every process it reaches (the memory
backend: this one; Redis: a PUBLISH on the group's channel, or on the
backend's control channel for a user's connections anywhere), and each
process closes its matching connections with :func:`close_matching`.

The default code, 4001, is in the range RFC 6455 7.4.2 leaves to
applications, which the JS client does not reconnect after.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket

__all__ = ["DISCONNECTED", "LOGGED_OUT", "Order", "close_matching", "close_on_logout",
           "close_on_password_change", "user_key"]

logger = logging.getLogger(__name__)

#: The close code of ``disconnect()`` unless told otherwise.
DISCONNECTED = 4001
#: The close code when Django's ``logout()`` closes a session's connections
#: (``WEBSOCKET_CLOSE_ON_LOGOUT``): 4000 + HTTP's 401.
LOGGED_OUT = 4401
_MAX_REASON_BYTES = 123  # RFC 6455 5.5: a control frame's payload is 125 bytes, 2 of them the code


def user_key(user: Any) -> str | None:
    """A user object's pk (or a pk as given) as a str; None for None."""
    if user is None:
        return None
    return str(getattr(user, "pk", user))


@dataclass(frozen=True)
class Order:
    """Which connections to close, and how."""

    user: str | None
    group: str | None
    code: int
    reason: str
    session: str | None = None  # only the connections opened with this session
    slot: str | None = None  # only the connection counted with this slot (user_slots.py)

    def __post_init__(self) -> None:
        if self.user is None and self.group is None:
            raise TypeError("disconnect() needs a user, a group, or both")
        # What a server may send (RFC 6455 7.4.1, 7.4.2): an error here, in
        # the caller's hands, not in every process that receives the order.
        code = self.code
        if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
            raise ValueError(f"close code {self.code} is not one a server may send")
        if len(self.reason.encode()) > _MAX_REASON_BYTES:
            raise ValueError(f"a close reason is at most {_MAX_REASON_BYTES} bytes in UTF-8")

    def payload(self) -> bytes:
        """The order as published (the group goes with the channel)."""
        value = {"user": self.user, "code": self.code, "reason": self.reason,
                 "session": self.session}
        if self.slot is not None:
            value["slot"] = self.slot
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, payload: bytes, group: str | None) -> Order | None:
        """The order ``payload()`` made, or None for anything else (Redis is shared)."""
        try:
            value = json.loads(payload)
            if (type(value) is not dict
                    or value.keys() - {"slot"} != {"user", "code", "reason", "session"}
                    or type(value["code"]) is not int or type(value["reason"]) is not str
                    or not (value["user"] is None or type(value["user"]) is str)
                    or not (value["session"] is None or type(value["session"]) is str)
                    or type(value.get("slot", "")) is not str):
                return None
            return cls(value["user"], group, value["code"], value["reason"], value["session"],
                       value.get("slot"))
        except (ValueError, TypeError, RecursionError):
            return None


def _is_user(websocket: WebSocket, key: str) -> bool:
    user = getattr(websocket, "user", None)
    try:
        return bool(user is not None and user.is_authenticated and str(user.pk) == key)
    except Exception:  # a broken session must not stop the others' closing
        logger.exception("cannot read the user of %r to disconnect it", websocket)
        return False


def close_matching(candidates: Iterable[WebSocket], order: Order) -> None:
    """Start closing the candidates that ``order`` names, each on a greenlet.

    Runs on a greenlet of its own: reading a connection's user may query the
    database (``request.user`` is lazy), which must not hold the caller (the
    Redis listener); that greenlet's database connections are closed after.
    """
    import gevent

    candidates = list(candidates)
    if not candidates:
        # Nothing here (a process that serves no WebSocket, where logout()
        # runs too): no greenlet, which no event loop might ever run.
        return

    def run() -> None:
        from django.db import connections

        from ..connection import counters

        by = ("logout" if order.session is not None else "replaced" if order.slot is not None
              else "group" if order.group else "user")
        closed = 0
        try:
            for websocket in candidates:
                if websocket.closed:
                    continue
                if order.slot is not None:
                    # One connection, replaced by its user's newer one: the
                    # slot it was counted with names it, no user to read.
                    if websocket.user_slot != order.slot:
                        continue
                elif order.session is not None:
                    # The session is the user's, and may be gone already
                    # (logout() flushes it): the lazy request.user would
                    # read as anonymous. Its key, kept at the handshake, says.
                    if websocket.session_key != order.session:
                        continue
                elif order.user is not None and not _is_user(websocket, order.user):
                    continue
                gevent.spawn(websocket.close, order.code, order.reason)
                counters.disconnected(by)
                closed += 1
        finally:
            connections.close_all()
        if closed:
            logger.info("disconnecting %d WebSocket connection(s) (user %s, group %r) with %d",
                        closed, order.user or "-", order.group, order.code)

    gevent.spawn(run)


def close_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: close the user's connections opened with this session.

    In every process (``disconnect()``), with ``LOGGED_OUT``. Django sends
    the signal before it flushes the session, so its key is still there. A
    groups backend that fails (Redis down) is logged: the logout goes on.
    """
    from ..conf import settings
    from . import get_backend

    if user is None or not settings.CLOSE_ON_LOGOUT:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key is None:
        return  # no session: no connection was opened with it
    try:
        get_backend().disconnect(Order(user_key(user), None, LOGGED_OUT, "logged out",
                                       session_key))
    except Exception:
        logger.exception("could not close the WebSocket connections of %s at logout", user)


def close_on_password_change(sender: Any, instance: Any, created: bool = False,
                             using: str | None = None, **kwargs: Any) -> None:
    """``post_save`` of the user model: a new password closes the user's connections.

    Django logs the user's other sessions out at their next request (their
    session hash no longer matches); a WebSocket makes no next request, so
    its connections close now, everywhere, with ``LOGGED_OUT``, once the
    save commits (never for a rolled-back one). All of them: at the save,
    nothing tells which session changed the password (the one that did is
    given a new key right after, by ``update_session_auth_hash()``), and a
    connection left open on a stale key would escape its session's logout.
    That browser's pages connect again as they load.

    ``set_password()`` leaves the raw password in ``_password`` until
    ``save()`` is done, which is how a new password is told from any other
    save without a query (a hasher upgrade at login clears it first).
    """
    from django.db import transaction

    from ..conf import settings
    from . import get_backend

    if created or getattr(instance, "_password", None) is None or not settings.CLOSE_ON_LOGOUT:
        return
    order = Order(user_key(instance), None, LOGGED_OUT, "password changed")

    def send() -> None:
        try:
            get_backend().disconnect(order)
        except Exception:
            logger.exception("could not close the WebSocket connections of user %s after "
                             "a password change", order.user)

    transaction.on_commit(send, using=using, robust=True)
