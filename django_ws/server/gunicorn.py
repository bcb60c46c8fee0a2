"""A gunicorn worker that serves HTTP and WebSockets, as ``runws`` does::

    gunicorn -k django_ws.gunicorn.GeventWebSocketWorker -w 4 myproject.wsgi

gunicorn's gevent worker monkey-patches each worker process before it loads
the application (the documented production entry point: nothing else
patches), and runs our pywsgi handler, so lazy accept, the limits and the
origin check behave as under ``runws``. On SIGTERM the worker stops
accepting, closes every WebSocket with 1001 and lets the views end within
gunicorn's ``--graceful-timeout``.

gunicorn imports this module in the arbiter, before any patching and usually
before ``DJANGO_SETTINGS_MODULE`` is set (the project's ``wsgi.py`` sets it).
So it imports no Django: the rest of django_ws is imported in the worker,
once patched. (gevent's patching inspects every object alive; an
unconfigured ``django.conf.settings`` among them fails it.)

Do not combine with ``--preload``: the application would be imported before
the worker patches, as with any gevent worker.

Metrics with several workers (prometheus_client's multiprocess mode): set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before starting gunicorn,
and name :func:`child_exit` in the gunicorn configuration file, so that the
open-connections gauge of a worker that died drops out of the total::

    # gunicorn.conf.py
    from django_ws.gunicorn import child_exit  # noqa: F401
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable
from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler
from websockets.frames import CloseCode

__all__ = ["GeventWebSocketWorker", "child_exit"]

logger = logging.getLogger("django_ws.server")


@functools.cache
def handler_class() -> type[Any]:
    """Our pywsgi handler, logging through gunicorn's access log as its own does.

    Made on first use, in a patched worker: the handler imports Django.
    """
    from ..connection.redaction import redact_query, redact_target
    from .handler import WebSocketHandler

    class GunicornWebSocketHandler(WebSocketHandler, PyWSGIHandler):  # type: ignore[misc]
        def log_request(self) -> None:
            # gunicorn's access log formats the request from the environ: give
            # it one whose query string has its secrets redacted.
            environ: dict[str, Any] = self.environ
            if environ.get("QUERY_STRING"):
                self.environ = {**environ,
                                "QUERY_STRING": redact_query(environ["QUERY_STRING"]),
                                "RAW_URI": redact_target(environ.get("RAW_URI", ""))}
            try:
                super().log_request()
            finally:
                self.environ = environ
            websocket = self.websocket
            if (websocket is not None and websocket.opened_at is not None
                    and not self._handed_over):
                logger.info("%s", self.format_request())

        def _line_writer(self) -> Callable[[str], None]:
            return lambda line: logger.info("%s", line)

    return GunicornWebSocketHandler


class GeventWebSocketWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's gevent pywsgi worker, with WebSockets."""

    wsgi: Any  # the application, set by load_wsgi()

    def patch(self) -> None:
        super().patch()  # gevent's monkey.patch_all(), and the listening sockets
        from ..process.patching import reset_django_state

        # In case the arbiter imported Django (--preload, or a config file).
        reset_django_state()

    def load_wsgi(self) -> None:
        from ..checks import check_gevent_patched
        from ..conf import settings as ws_settings
        from ..process.fd_limit import raise_open_files_limit
        from ..process.malloc import tune_malloc
        from .middleware_chain import shallow_application

        # init_process() patched before this; --preload would have loaded
        # the application unpatched in the arbiter.
        for error in check_gevent_patched():
            self.log.error("%s: %s HINT: %s", error.id, error.msg, error.hint)
        super().load_wsgi()
        # As WebSocketServer does: a shallow C stack for waiting views.
        self.wsgi = shallow_application(self.wsgi)
        if ws_settings.TUNE_MALLOC:  # as runws does
            tune_malloc()
        raise_open_files_limit()  # as runws does
        self.wsgi_handler = handler_class()  # read by run(), which builds the server

    def run(self) -> None:
        from ..conf import settings as ws_settings
        from ..connection import wait_for_detached
        from ..groups import listen_for_orders
        from ..metrics import multiprocess
        from .watchdog import LoopWatchdog

        # As under runws: a blocked loop is reported, and a view that holds
        # it cannot keep the worker from stopping (see django_ws.server.watchdog).
        self._watchdog = LoopWatchdog(ws_settings.LOOP_BLOCKED_THRESHOLD)
        self._watchdog.install_interrupt(self.cfg.graceful_timeout)
        self._watchdog.start()
        multiprocess.start()  # with PROMETHEUS_MULTIPROC_DIR only
        listen_for_orders()  # groups.disconnect() from other processes
        super().run()  # returns once the server's pool of requests is empty
        # Detached WebSocketView connections are in no pool: their close,
        # started by handle_exit(), ends within the graceful timeout too.
        wait_for_detached(self.cfg.graceful_timeout)
        multiprocess.stop()  # the last copy: every connection's counts are in

    def handle_exit(self, sig: Any, frame: Any) -> None:
        super().handle_exit(sig, frame)  # gunicorn stops accepting within a second
        gevent.spawn(self._close_idle_connections)
        gevent.spawn(self._close_websockets)
        watchdog = getattr(self, "_watchdog", None)
        if watchdog is not None:
            # gunicorn's handlers are plain Python ones: this may run in the
            # greenlet of a view that holds the loop; then it ends that view.
            watchdog.stop_requested(sig)

    def _close_idle_connections(self) -> None:
        from .handler import close_idle_connections

        close_idle_connections()  # idle keep-alive connections are no work to drain

    def _close_websockets(self) -> None:
        from ..connection import close_open_connections

        # RFC 6455 7.4.1: 1001, going away. Look again while the listener may
        # still have let a connection in, until the process exits; each
        # connection is closed once (see close_open_connections).
        started: weakref.WeakSet[Any] = weakref.WeakSet()
        while True:
            close_open_connections(CloseCode.GOING_AWAY, "server shutting down", started=started)
            gevent.sleep(0.5)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: forget a dead worker's live gauges.

    prometheus_client's ``mark_process_dead``: the worker's
    ``django_ws_connections`` no longer counts (its connections are gone);
    its counters stay in the totals. Runs in the arbiter: no Django here.
    """
    import os

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
