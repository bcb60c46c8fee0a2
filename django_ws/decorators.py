"""``accept_websocket`` and ``require_websocket``, as in dwebsocket.

Both work with or without ``WebSocketMiddleware``. Keyword arguments override
the ``WEBSOCKET_*`` limits for the decorated view::

    @accept_websocket(max_message_size=16 * 1024 * 1024, subprotocols=["chat"])
    def upload(request): ...
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction
from django.contrib.auth import decorators as django_auth
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from websockets.frames import CloseCode

from . import threads, user_caps
from .conf import OPTION_NAMES
from .conf import settings as ws_settings
from .connection.redaction import redact_target
from .db import release_idle_connections
from .exceptions import ConnectionClosed, ViewAbandoned, ViewInterrupted
from .origin import origin_allowed
from .request import VIEW_MARKER, attach_websocket, unserved_upgrade

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket

__all__ = ["accept_websocket", "login_required", "permission_required", "require_websocket"]

# The handshake refusals' logger: this one is refused by the view's origin check.
logger = logging.getLogger("django_ws.handler")

View = TypeVar("View", bound=Callable[..., Any])


def check_options(options: dict[str, Any], where: str) -> None:
    """Raise TypeError at import time for an option name that does not exist."""
    view_options = {"threaded", user_caps.OPTION}  # the view's, not the connection's
    unknown = set(options) - OPTION_NAMES - view_options
    if unknown:
        raise TypeError(
            f"unknown WebSocket option(s) {sorted(unknown)!r} for {where}; "
            f"expected some of {sorted(OPTION_NAMES | view_options)!r}"
        )
    if not isinstance(options.get("threaded", False), bool):
        raise TypeError(f"threaded={options['threaded']!r} for {where}; expected True or False")
    user_caps.check_option(options.get(user_caps.OPTION), where)


def forbidden_origin(request: HttpRequest) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN")
    # %r: the client's bytes (see handler._send_rejection).
    logger.info("WebSocket handshake refused for %r: 403 Forbidden (origin %r is not the "
                "site's own nor in WEBSOCKET_ALLOWED_ORIGINS)",
                redact_target(request.get_full_path()), origin)
    return HttpResponseForbidden(
        f"Origin {origin!r} may not open a WebSocket here (see WEBSOCKET_ALLOWED_ORIGINS).",
        content_type="text/plain",
    )


def run_websocket_view(
    request: HttpRequest,
    websocket: WebSocket,
    options: dict[str, Any],
    view: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> HttpResponseBase:
    """Run a view on a WebSocket request: limits, DB hygiene, the closing rules.

    Shared by the decorators and :class:`~django_ws.views.WebSocketView`.
    Calls ``view(*args, **kwargs)`` itself, not through a closure: one
    frame less kept for the connection's life (see django_ws.server.middleware_chain).
    """
    # For the connection's log line; a lazy object, evaluated when logged.
    websocket.user = getattr(request, "user", None)
    # From the cookie, no query: logout() closes this session's connections.
    websocket.session_key = getattr(getattr(request, "session", None), "session_key", None)
    # The metrics' view label: the URL's name ("namespace:name"), else the
    # view's dotted path; never the path itself, whose ids are unbounded.
    match = getattr(request, "resolver_match", None)
    if match is not None:
        websocket.view_name = match.view_name
        # Django keeps in the match, for its 404 page, a list for each URL
        # pattern tried before this one (about 80 bytes each), and a waiting
        # view keeps its request: a WebSocket URL 50 patterns down a URLconf
        # cost each idle connection 4 KiB (bench/RECOVERY.md, B4).
        tried = getattr(match, "tried", None)
        if tried:
            tried.clear()
    threaded = ws_settings.THREADED
    view_options = options
    if "threaded" in options or user_caps.OPTION in options:
        # Not connection options: the view's (django_ws.threads, django_ws.user_caps).
        options = dict(options)
        threaded = options.pop("threaded", threaded)
        options.pop(user_caps.OPTION, None)
    if options:
        websocket.configure(**options)
    websocket.on_idle(release_idle_connections)
    if threaded and threads.pool_full(ws_settings.THREADS):
        # Before any 101, as past WEBSOCKET_MAX_CONNECTIONS: the client can
        # come back, or go to another process.
        refusal = HttpResponse(
            f"Failed to open a WebSocket connection: the {ws_settings.THREADS} threads of "
            f"this server (WEBSOCKET_THREADS) all run a view; try again later.\n",
            status=503, content_type="text/plain")
        refusal["Retry-After"] = str(ws_settings.RETRY_AFTER)
        return refusal
    counted = user_caps.take_slot(request, websocket, view_options,
                                  websocket.view_name if match is not None else
                                  f"{view.__module__}.{view.__qualname__}")
    if isinstance(counted, HttpResponse):
        return counted
    try:
        if threaded:
            response = _run_threaded(request, websocket, view, *args, **kwargs)
        else:
            response = view(*args, **kwargs)
    except ConnectionClosed as exc:
        if not websocket.accepted or not websocket._ended_by_client():
            raise  # the server closed it (the view itself): a bug of the view's
        # The client left while the view was answering (the echo of the
        # README, a client that sends and closes at once): not an error.
        logger.info("WebSocket %r: the view stopped at %r after the client ended the "
                    "connection", redact_target(request.get_full_path()), exc)
        response = None
    except ViewInterrupted as exc:
        logger.warning("WebSocket %r: interrupted the view %s: %s",
                       redact_target(request.get_full_path()), websocket.view_name, exc)
        if websocket.accepted:
            websocket.close(CloseCode.GOING_AWAY)  # the server is going away (RFC 6455 7.4.1)
        response = None
    except ViewAbandoned as exc:
        # Once, with the view's name: a loop written for threads (dwebsocket)
        # that would have polled a closed connection for ever.
        logger.warning("WebSocket %r: ended the view %s: %s; stop its loop when wait() or "
                       "read() returns None (the README's migration guide)",
                       redact_target(request.get_full_path()), websocket.view_name, exc)
        response = None
    except BaseException:
        # RFC 6455 7.4.1: 1011, the server hit a condition it could not
        # handle. Django turns the exception into a 500 page, which the
        # handler discards once upgraded, and logs it.
        if websocket.accepted:
            websocket.close(CloseCode.INTERNAL_ERROR)
        raise
    finally:
        if counted is not None:
            # Once the view returned: accepted, it is released when the
            # connection ends; else now.
            user_caps.give_back_when_ended(websocket, counted)
    if websocket.accepted or response is None:
        # The socket was used, or the view had nothing to say in HTTP:
        # Django needs a response object, the handler will discard it.
        if not websocket.accepted:
            websocket.close()
        return response if isinstance(response, HttpResponseBase) else HttpResponse()
    return response  # type: ignore[no-any-return]


def _run_threaded(request: HttpRequest, websocket: WebSocket, view: Callable[..., Any],
                  *args: Any, **kwargs: Any) -> Any:
    """``view`` on a thread of the pool, seeing ``request.websocket`` through the hub."""
    import gevent

    request.websocket = threads.ThreadedWebSocket(websocket, gevent.get_hub())  # type: ignore[attr-defined]
    try:
        return threads.run_in_thread(ws_settings.THREADS, view, *args, **kwargs)
    finally:
        request.websocket = websocket  # type: ignore[attr-defined]


def refuse_async(view: Callable[..., Any], what: str) -> None:
    """Raise TypeError for an ``async def`` view or hook, saying why.

    Django would accept it and fail at the first request with a generic
    "coroutine was never awaited"; the reason belongs at import time.

    Args:
        view: the function to check.
        what: how the message names its use, e.g. ``"@accept_websocket"``.
    """
    if iscoroutinefunction(view):
        raise TypeError(
            f"{what} cannot take {view.__module__}.{view.__qualname__}: it is "
            f"async. django_ws views are sync: each connection runs on its own gevent "
            f"greenlet, where blocking calls (the ORM, time.sleep, requests) yield to the "
            f"others. Write it with `def` instead of `async def`."
        )


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
