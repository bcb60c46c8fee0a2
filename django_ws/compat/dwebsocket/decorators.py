"""dwebsocket's ``accept_websocket`` and ``require_websocket``.

django_ws's decorators (limits, origin check, the closing rules) around the
view, which gets a :class:`~django_ws.compat.dwebsocket.websocket.WebSocket`
as ``request.websocket``, already accepted: dwebsocket sent the 101 before
the view body ran, so a push view that blocks before its first ``send()``
still opens the browser's socket at once. Keyword arguments are django_ws's
per-view options (``@accept_websocket(max_message_size=...)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest

from ... import decorators as native
from ...dispatch import refuse_async
from .websocket import WebSocket

__all__ = ["accept_websocket", "require_websocket"]

View = TypeVar("View", bound=Callable[..., Any])


def _with_compat_socket(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def compat_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        websocket = request.websocket  # type: ignore[attr-defined]
        if websocket is not None:  # a WebSocket request, attached by django_ws
            if not isinstance(websocket, WebSocket):
                websocket = WebSocket(websocket)
                request.websocket = websocket  # type: ignore[attr-defined]
            websocket.accept_connection()
        return view(request, *args, **kwargs)

    return compat_view


def _decorate(view: View, options: dict[str, Any], *, required: bool) -> View:
    # Here, not only by the native decorator: the sync wrapper below would
    # hide an async view from it.
    refuse_async(view, "@require_websocket" if required else "@accept_websocket")
    decorator = native.require_websocket if required else native.accept_websocket
    wrapped: Any = decorator(**options)(_with_compat_socket(view))
    # dwebsocket's markers, which its middleware (and some projects) read.
    wrapped.accept_websocket = True
    wrapped.require_websocket = required or getattr(view, "require_websocket", False)
    return wrapped  # type: ignore[no-any-return]


def accept_websocket(view: Any = None, /, **options: Any) -> Any:
    """dwebsocket's ``accept_websocket``: plain HTTP and WebSocket requests both reach the view.

    Args:
        view: the view, when used as ``@accept_websocket``.
        **options: django_ws's per-view options (see
            :func:`django_ws.decorators.accept_websocket`).
    """
    if view is None:
        return lambda view: _decorate(view, options, required=False)
    return _decorate(view, options, required=False)


def require_websocket(view: Any = None, /, **options: Any) -> Any:
    """dwebsocket's ``require_websocket``: plain HTTP requests get 400."""
    if view is None:
        return lambda view: _decorate(view, options, required=True)
    return _decorate(view, options, required=True)
