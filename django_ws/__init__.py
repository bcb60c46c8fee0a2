"""WebSockets in plain Django views.

``request.websocket`` in ordinary (sync) views, served by gevent with the
websockets library's sans-I/O protocol core. Importing this package imports
neither gevent nor the settings: the public names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ConnectionClosed",
    "WebSocket",
    "WebSocketError",
    "WebSocketUsageError",
    "accept_websocket",
    "require_websocket",
]

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket
    from .decorators import accept_websocket, require_websocket
    from .exceptions import ConnectionClosed, WebSocketError, WebSocketUsageError

_LAZY = {
    "ENVIRON_KEY": "django_ws.request",
    "WebSocket": "django_ws.connection",
    "accept_websocket": "django_ws.decorators",
    "require_websocket": "django_ws.decorators",
    "ConnectionClosed": "django_ws.exceptions",
    "WebSocketError": "django_ws.exceptions",
    "WebSocketUsageError": "django_ws.exceptions",
}


def __getattr__(name: str) -> Any:
    # PEP 562: `from django_ws import accept_websocket` works without making
    # `import django_ws` (done by INSTALLED_APPS) pull in gevent.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'django_ws' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
