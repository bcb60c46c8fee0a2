"""Groups: send a message to every connection in a group, from anywhere.

::

    # in a WebSocket view
    request.websocket.join("room:lobby")

    # anywhere: another view, a signal handler, a management command, a task
    from django_ws.groups import broadcast
    broadcast("room:lobby", {"text": "hello"})

Messages go straight to the members' clients, not through their views: one
serialization per message, written to each socket without waiting for a
slow one (see ``WebSocket.deliver``). The backend is chosen like a cache, in
``WEBSOCKET_GROUPS``; the default keeps groups in this process's memory.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ..connection.memberships import use_group_backends
from . import envelopes
from .disconnect import DISCONNECTED, LOGGED_OUT, Order, user_key
from .user_slots import REPLACED

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket
    from .base import GroupBackend

__all__ = [
    "DEFAULT_GROUPS",
    "DISCONNECTED",
    "LOGGED_OUT",
    "REPLACED",
    "broadcast",
    "count",
    "disconnect",
    "get_backend",
    "history",
    "members",
    "presence",
]

DEFAULT_GROUPS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}
}

_backends: dict[str, GroupBackend] = {}
_lock = threading.Lock()


def get_backend(alias: str = "default") -> GroupBackend:
    """The groups backend configured as ``WEBSOCKET_GROUPS[alias]``."""
    backend = _backends.get(alias)
    if backend is not None:
        return backend
    with _lock:
        if alias not in _backends:
            _backends[alias] = _make_backend(alias)
        return _backends[alias]


def _make_backend(alias: str) -> GroupBackend:
    from django.conf import settings

    config = getattr(settings, "WEBSOCKET_GROUPS", DEFAULT_GROUPS)
    if alias not in config:
        raise ImproperlyConfigured(
            f"WEBSOCKET_GROUPS has no {alias!r} backend; it has {sorted(config)!r}."
        )
    entry = config[alias]
    path = entry.get("BACKEND", "")
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"WEBSOCKET_GROUPS[{alias!r}]['BACKEND'] is {path!r}, which cannot be imported: {exc}"
        ) from exc
    backend: GroupBackend = backend_class(alias, dict(entry.get("OPTIONS", {})))
    return backend


@receiver(setting_changed)
def _reset_backends(setting: str, **kwargs: Any) -> None:
    # override_settings(WEBSOCKET_GROUPS=...) in tests takes effect at once.
    if setting == "WEBSOCKET_GROUPS":
        with _lock:
            for backend in _backends.values():
                backend.close()
            _backends.clear()


def broadcast(
    group: str, message: Any, *, binary: bool = False, using: str = "default",
    on_commit: bool | str = False,
) -> str | None:
    """Send ``message`` to every connection in ``group``, in every process.

    Args:
        group: the group's name.
        message: as for ``WebSocket.send()``: ``str``, bytes-like, or a
            ``dict``/``list`` sent as JSON.
        binary: send a ``str`` or JSON as a binary frame.
        using: the ``WEBSOCKET_GROUPS`` alias.
        on_commit: True (the default database) or a database alias: send
            when that database's current transaction commits, and never if
            it rolls back (``transaction.on_commit``; outside a transaction,
            at once). The message is serialized now, as it is at the call.

    Returns:
        The message's position in the group's history (an opaque string), or
        None when the group keeps no history (``history_size`` 0) or the
        sending waits for a commit.

    Messages from one sender arrive in the order it broadcast them. With the
    in-memory backend, only this process's connections are reached.
    """
    from ..encoding import encode_message

    data, text = encode_message(message, binary=binary)
    if isinstance(message, str):
        kind = envelopes.STR
    elif isinstance(message, (dict, list)):
        kind = envelopes.JSON
    else:
        kind = envelopes.BYTES
    if on_commit is False:
        return _publish(group, bytes(data), text, kind, using)
    from django.db import DEFAULT_DB_ALIAS, transaction

    from .base import validate_group

    validate_group(group)  # now, in the caller's hands, not after the commit
    database = DEFAULT_DB_ALIAS if on_commit is True else on_commit
    payload = bytes(data)
    # robust: the transaction is committed already; a groups backend that
    # fails then (Redis down) is logged by Django, and the other callbacks run.
    transaction.on_commit(lambda: _publish(group, payload, text, kind, using),
                          using=database, robust=True)
    return None


def _publish(group: str, data: bytes, text: bool, kind: str, using: str) -> str | None:
    from ..connection import counters

    position = get_backend(using).broadcast(group, data, text=text, kind=kind)
    counters.broadcasts += 1
    return position


def disconnect(
    *, user: Any = None, group: str | None = None, code: int = DISCONNECTED, reason: str = "",
    using: str = "default",
) -> None:
    """Close every connection of ``user``, of ``group``, or of the user in the
    group, in every server process the backend reaches, with ``code`` and ``reason``.

    From anywhere: a view, the shell, a Celery task, an admin action. With
    the Redis backend the order is one PUBLISH, and each server process
    closes its matching connections as it receives it (within a round trip
    to Redis); with the memory backend, this process's.

    Args:
        user: a user object or its pk; only authenticated connections match.
        group: a group's name: its members (in every process).
        code: the close code: ``DISCONNECTED`` (4001, which the JS client
            does not reconnect after), or any code a server may send.
        reason: the close reason, at most 123 bytes in UTF-8.
        using: the ``WEBSOCKET_GROUPS`` alias.

    Raises:
        TypeError: neither ``user`` nor ``group``.
        ValueError: a code a server may not send, a reason too long, an
            invalid group name.
    """
    from .base import validate_group

    if group is not None:
        validate_group(group)
    get_backend(using).disconnect(Order(user_key(user), group, code, reason))


def listen_for_orders() -> None:
    """In a server process (runws, the gunicorn worker): receive the
    ``disconnect()`` orders of other processes, on every configured backend.

    A backend that cannot start (the redis package missing) is logged, not
    raised: the server serves, and its first join says the same.
    """
    import logging

    from django.conf import settings

    for alias in getattr(settings, "WEBSOCKET_GROUPS", DEFAULT_GROUPS):
        try:
            get_backend(alias).listen_for_orders()
        except Exception:
            logging.getLogger(__name__).exception(
                "cannot listen for disconnect orders on WEBSOCKET_GROUPS[%r]", alias)


def history(
    group: str, since: str | None = None, limit: int | None = None, *, using: str = "default"
) -> list[tuple[str, Any]]:
    """The messages the group's history keeps, oldest first.

    Args:
        group: the group's name.
        since: a position: only the messages after it (all the kept ones
            when it is None or of an earlier life of the stream).
        limit: at most this many, the latest.
        using: the ``WEBSOCKET_GROUPS`` alias.

    Returns:
        ``[(position, message)]``: ``str``, bytes, or the JSON value, as
        broadcast.
    """
    return get_backend(using).history(group, since, limit)


def presence(group: str, *, using: str = "default") -> list[dict[str, Any]]:
    """The members of ``group`` joined with ``presence``, in every process.

    Returns:
        ``[{"connection": id, "info": {...}, "joined": timestamp}]``.
    """
    return get_backend(using).presence(group)


def members(group: str, *, using: str = "default") -> list[WebSocket]:
    """The connections of this process in ``group``."""
    return get_backend(using).local_members(group)


def count(group: str, *, using: str = "default") -> int:
    """How many connections of this process are in ``group``."""
    return len(get_backend(using).local_members(group))


# join() and leave() on a connection find their backends here: the
# connection core, below this layer, imports nothing of it.
use_group_backends(get_backend)
