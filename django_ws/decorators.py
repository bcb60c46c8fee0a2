"""``accept_websocket`` and ``require_websocket``, as in dwebsocket; and
``login_required`` and ``permission_required`` answering WebSocket requests
in HTTP. Running the view is :mod:`django_ws.dispatch`'s job.

Both work with or without ``WebSocketMiddleware``. Keyword arguments override
the ``WEBSOCKET_*`` limits for the decorated view::

    @accept_websocket(max_message_size=16 * 1024 * 1024, subprotocols=["chat"])
    def upload(request): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from django.contrib.auth import decorators as django_auth
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase

from .dispatch import check_options, refuse_async, run_websocket_view
from .origin import forbidden_origin, origin_allowed
from .request import VIEW_MARKER, attach_websocket, unserved_upgrade

__all__ = ["accept_websocket", "login_required", "permission_required", "require_websocket"]

View = TypeVar("View", bound=Callable[..., Any])


def _decorate(view: View, options: dict[str, Any], *, required: bool) -> View:
    refuse_async(view, "@require_websocket" if required else "@accept_websocket")
    check_options(options, view.__qualname__)

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
            return forbidden_origin(request)
        return run_websocket_view(request, websocket, options, view, request, *args, **kwargs)

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
        **options: per-view limits: ``max_message_size``, ``max_queue``, ``max_queue_bytes``,
            ``ping_interval``, ``ping_timeout``, ``send_timeout``,
            ``close_timeout``, ``message_rate``, ``message_burst``,
            ``rate_limit_close``, ``max_fragments``, ``max_control_frames``,
            ``compression``, ``subprotocols``; and ``threaded`` (True: the
            view's body runs on a real OS thread, see ``django_ws.threads``).
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


def _guard(
    view: View, http_view: Callable[..., Any], perms: tuple[str, ...]
) -> View:
    """``view`` for WebSocket requests behind a 401/403 check, ``http_view`` for HTTP."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if attach_websocket(request) is None:
            return http_view(request, *args, **kwargs)  # type: ignore[no-any-return]
        if not request.user.is_authenticated:
            return HttpResponse("Authentication required.", status=401,
                                content_type="text/plain")
        if perms and not request.user.has_perms(perms):  # type: ignore[attr-defined]
            return HttpResponseForbidden("Permission denied.", content_type="text/plain")
        return view(request, *args, **kwargs)  # type: ignore[no-any-return]

    return wrapper  # type: ignore[return-value]


def login_required(view: View) -> View:
    """Django's ``login_required``, answering a WebSocket request with 401.

    A browser cannot follow the redirect Django's decorator answers with (it
    reports a failed handshake); a 401 before any 101 is what a WebSocket
    client can act on. Plain HTTP requests get Django's redirect to the login
    page. Stack it with ``accept_websocket``, in either order.
    """
    return _guard(view, django_auth.login_required(view), ())


def permission_required(
    perm: str | list[str] | tuple[str, ...], *, login_url: str | None = None,
    raise_exception: bool = False,
) -> Callable[[View], View]:
    """Django's ``permission_required``, answering WebSocket requests with 401/403.

    Anonymous WebSocket requests get 401, authenticated ones without the
    permission 403, both before any 101. Plain HTTP requests behave as with
    Django's decorator (``login_url``, ``raise_exception``).
    """
    perms = (perm,) if isinstance(perm, str) else tuple(perm)
    http_decorator = django_auth.permission_required(
        perm, login_url=login_url, raise_exception=raise_exception
    )
    return lambda view: _guard(view, http_decorator(view), perms)
