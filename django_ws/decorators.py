"""``accept_websocket`` and ``require_websocket``, as in dwebsocket.

Both work with or without ``WebSocketMiddleware``. Keyword arguments override
the ``WEBSOCKET_*`` limits for the decorated view::

    @accept_websocket(max_message_size=16 * 1024 * 1024, subprotocols=["chat"])
    def upload(request): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from websockets.frames import CloseCode

from .conf import OPTION_NAMES
from .middleware import VIEW_MARKER, attach_websocket, unserved_upgrade
from .origin import origin_allowed

__all__ = ["accept_websocket", "require_websocket"]

View = TypeVar("View", bound=Callable[..., Any])


def _decorate(view: View, options: dict[str, Any], *, required: bool) -> View:
    unknown = set(options) - OPTION_NAMES
    if unknown:
        raise TypeError(
            f"unknown WebSocket option(s) {sorted(unknown)!r} for {view.__qualname__}; "
            f"expected some of {sorted(OPTION_NAMES)!r}"
        )

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        websocket = attach_websocket(request)
        if websocket is None:
            refusal = unserved_upgrade(request)
            if refusal is not None:
                return refusal
            if required:
                return HttpResponseBadRequest(
                    "This URL only speaks WebSocket.", content_type="text/plain"
                )
            return view(request, *args, **kwargs)  # type: ignore[no-any-return]
        if not origin_allowed(request):
            return HttpResponseForbidden(
                f"Origin {request.headers.get('Origin')!r} may not open a WebSocket here "
                f"(see WEBSOCKET_ALLOWED_ORIGINS).",
                content_type="text/plain",
            )
        if options:
            websocket.configure(**options)
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            # RFC 6455 7.4.1: 1011, the server hit a condition it could not
            # handle. Django turns the exception into a 500 page, which the
            # handler discards once upgraded, and logs it.
            if websocket.accepted:
                websocket.close(CloseCode.INTERNAL_ERROR)
            raise
        if websocket.accepted or response is None:
            # The socket was used, or the view had nothing to say in HTTP:
            # Django needs a response object, the handler will discard it.
            if not websocket.accepted:
                websocket.close()
            return response if isinstance(response, HttpResponseBase) else HttpResponse()
        return response  # type: ignore[no-any-return]

    setattr(wrapper, VIEW_MARKER, True)
    return wrapper  # type: ignore[return-value]


@overload
def accept_websocket(view: View, /) -> View: ...
@overload
def accept_websocket(**options: Any) -> Callable[[View], View]: ...
def accept_websocket(view: Any = None, /, **options: Any) -> Any:
    """Let a view handle both plain HTTP and WebSocket requests.

    In the view, ``request.is_websocket()`` tells which, and
    ``request.websocket`` is the connection (None for plain HTTP). Cross-site
    handshakes are refused with 403 (see ``WEBSOCKET_ALLOWED_ORIGINS``).

    Args:
        view: the view, when used as ``@accept_websocket``.
        **options: per-view limits: ``max_message_size``, ``max_queue``,
            ``ping_interval``, ``ping_timeout``, ``send_timeout``,
            ``close_timeout``, ``compression``, ``subprotocols``.
    """
    if view is None:
        return lambda view: _decorate(view, options, required=False)
    return _decorate(view, options, required=False)


@overload
def require_websocket(view: View, /) -> View: ...
@overload
def require_websocket(**options: Any) -> Callable[[View], View]: ...
def require_websocket(view: Any = None, /, **options: Any) -> Any:
    """Like :func:`accept_websocket`, but plain HTTP requests get 400."""
    if view is None:
        return lambda view: _decorate(view, options, required=True)
    return _decorate(view, options, required=True)
