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

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket
    from .base import GroupBackend

__all__ = ["DEFAULT_GROUPS", "broadcast", "count", "get_backend", "members"]

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


def broadcast(group: str, message: Any, *, binary: bool = False, using: str = "default") -> None:
    """Send ``message`` to every connection in ``group``, in every process.

    Args:
        group: the group's name.
        message: as for ``WebSocket.send()``: ``str``, bytes-like, or a
            ``dict``/``list`` sent as JSON.
        binary: send a ``str`` or JSON as a binary frame.
        using: the ``WEBSOCKET_GROUPS`` alias.

    Messages from one sender arrive in the order it broadcast them. With the
    in-memory backend, only this process's connections are reached.
    """
    from ..connection import encode_message
    from ..metrics import counters

    data, text = encode_message(message, binary=binary)
    get_backend(using).broadcast(group, bytes(data), text=text)
    counters.broadcasts += 1


def members(group: str, *, using: str = "default") -> list[WebSocket]:
    """The connections of this process in ``group``."""
    return get_backend(using).local_members(group)


def count(group: str, *, using: str = "default") -> int:
    """How many connections of this process are in ``group``."""
    return len(get_backend(using).local_members(group))
