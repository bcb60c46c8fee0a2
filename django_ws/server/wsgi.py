"""Build and run the gevent server around Django's WSGI application.

Used by ``manage.py runws``; the gunicorn worker reuses the handler. The
server is gevent's ``pywsgi.WSGIServer`` with our handler, one greenlet per
connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import pywsgi
from gevent.event import Event
from gevent.pool import Pool
from websockets.frames import CloseCode

from ..connection import close_open_connections, wait_for_detached
from ..metrics import multiprocess as metrics_multiprocess
from .handler import WebSocketHandler, close_idle_connections
from .middleware_chain import shallow_application
from .watchdog import LoopWatchdog

__all__ = ["WebSocketServer", "close_all"]

logger = logging.getLogger("django_ws.server")  # its name before the move


class WebSocketServer(pywsgi.WSGIServer):  # type: ignore[misc]  # gevent has no stubs
    """gevent's WSGI server, serving WebSocket upgrades too."""

    handler_class = WebSocketHandler

    def __init__(self, listener: Any, application: Callable[..., Any], **kwargs: Any) -> None:
        host = listener[0] if isinstance(listener, tuple) else ""
        environ = kwargs.pop("environ", None) or {}
        # pywsgi would call socket.getfqdn() on the address for SERVER_NAME: a
        # DNS look-up at start that can hang on a closed network.
        environ.setdefault("SERVER_NAME", host or "localhost")
        #: False when built with ``log=None``: the handlers skip formatting.
        self.access_log = kwargs.get("log", "default") is not None
        # Handlers in a pool: without one, gevent's stop() cannot wait for
        # them, and a graceful shutdown would not wait for the views.
        kwargs.setdefault("spawn", Pool())
        # A WebSocket view waits inside the application for the connection's
        # whole life: call it, and Django's middleware, with a shallow C stack.
        super().__init__(listener, shallow_application(application), environ=environ, **kwargs)

    def shutdown(self, *, code: int = CloseCode.GOING_AWAY, drain_timeout: float = 10.0) -> None:
        """Stop accepting, close every WebSocket with ``code``, wait for the views.

        RFC 6455 7.4.1: 1001 when the server goes down, 1012 when it restarts.
        Views still running after ``drain_timeout`` seconds are killed.
        """
        self.close()  # stop accepting new connections
        idle = close_idle_connections()
        if idle:
            logger.info("closed %d idle keep-alive connection(s)", idle)
        closing = close_all(code, "server shutting down" if code == CloseCode.GOING_AWAY
                            else "server restarting")
        logger.info("closing %d WebSocket connection(s) with %d", len(closing), code)
        deadline = time.monotonic() + drain_timeout
        self.stop(timeout=drain_timeout)
        # Detached WebSocketView connections hold no greenlet of the pool
        # that stop() waits for.
        wait_for_detached(max(0.0, deadline - time.monotonic()))


def close_all(code: int, reason: str = "") -> list[gevent.Greenlet[Any, Any]]:
    """Start closing every open WebSocket of this process, each on a greenlet."""
    return close_open_connections(code, reason)


def serve(server: WebSocketServer, *, drain_timeout: float = 10.0,
          loop_blocked_threshold: float | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    A watchdog thread reports a blocked event loop, and the signals get past
    a view that holds it (see django_ws.server.watchdog).
    """
    from ..groups import listen_for_orders

    stopping = Event()
    watchdog = LoopWatchdog(loop_blocked_threshold)
    watchdog.install_stop_signals(stopping.set, drain_timeout)
    watchdog.start()
    try:
        server.start()
        metrics_multiprocess.start()  # with PROMETHEUS_MULTIPROC_DIR only
        listen_for_orders()  # groups.disconnect() from other processes
        stopping.wait()
        server.shutdown(code=CloseCode.GOING_AWAY, drain_timeout=drain_timeout)
    finally:
        metrics_multiprocess.stop()  # the last copy of the counts
        watchdog.stop()
