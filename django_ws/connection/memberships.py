"""A connection's groups: which it joined, and the backends that serve them.

The groups layer (:mod:`django_ws.groups`) sits above this core: it passes
its ``get_backend()`` in when it is imported (``use_group_backends``), which
the app's ``ready()`` does, so that ``join()`` and ``leave()`` find a backend
by alias while the core imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import WebSocketUsageError

if TYPE_CHECKING:  # pragma: no cover
    from .websocket import WebSocket

__all__ = ["group_backend", "leave", "leave_all", "use_group_backends"]

_group_backends: list[Callable[[str], Any]] = []


def use_group_backends(get_backend: Callable[[str], Any]) -> None:
    """Called by ``django_ws.groups``: where ``join()``/``leave()`` find backends."""
    _group_backends[:] = [get_backend]


def group_backend(using: str) -> Any:
    """The groups backend of alias ``using``."""
    if not _group_backends:
        raise WebSocketUsageError(
            "join() and leave() need django_ws's groups: add 'django_ws' to "
            "INSTALLED_APPS (or import django_ws.groups)"
        )
    return _group_backends[0](using)


def leave_all(websocket: WebSocket, joined: set[tuple[str, str]],
              step: Callable[..., None]) -> None:
    """Leave every ``(alias, group)`` of ``joined``, each as its own ``step``
    (``Link.step``): a Redis error in one must not keep the connection in
    the others."""
    for using, group in sorted(joined):
        step(f"leave({group!r})", leave, using, group, websocket)


def leave(using: str, group: str, websocket: WebSocket) -> None:
    group_backend(using).leave(group, websocket)
