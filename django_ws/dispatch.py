"""Running a view on a WebSocket request, and checking a view when it is declared.

Shared by the decorators (``django_ws.decorators``), ``WebSocketView``
(``django_ws.views``) and the dwebsocket compatibility layer: what happens
between the URLconf and the view's first line on a WebSocket request (the
per-user count, thread mode, the view's limits, database hygiene) and after
its last (the closing rules); and the errors a view gets at import time
(``async def``, an unknown option).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from websockets.frames import CloseCode

from . import threads, user_caps
from .conf import OPTION_NAMES
from .conf import settings as ws_settings
from .connection.redaction import redact_target
from .db import release_idle_connections
from .exceptions import ConnectionClosed, ViewAbandoned, ViewInterrupted
from .request import retry_later

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket

__all__ = ["check_options", "refuse_async", "run_websocket_view"]

# The log of running WebSocket views, under the name it always had.
logger = logging.getLogger("django_ws.handler")


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
        # cost each idle connection 4 KiB (bench/studies/RECOVERY.md, B4).
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
        return retry_later(503, f"the {ws_settings.THREADS} threads of this server "
                                f"(WEBSOCKET_THREADS) all run a view; try again later.",
                           ws_settings.RETRY_AFTER)
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
