"""``manage.py runws``: runserver, on gevent, with WebSockets.

gevent's monkey-patching comes first, before this module imports anything
else: views are plain blocking code (``time.sleep()``, the ORM, ``requests``),
and only patched sockets and sleeps yield to the other connections' greenlets
instead of stopping the whole process. Django itself was imported before
this module (manage.py sets it up to find the command); ``patch()`` mends
what it made unpatched (see ``django_ws.process.patching``). Library code never
patches: only this command and the documented production entry points do.
"""

from django_ws.process.patching import patch

patch()  # first thing: see django_ws.process.patching for why

# ruff: noqa: E402
import errno
import os
import signal
from typing import Any

import gevent
from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.runserver import Command as RunserverCommand
from django.db import connections
from django.utils import autoreload
from websockets.frames import CloseCode

from django_ws.checks import check_gevent_patched
from django_ws.conf import settings as ws_settings
from django_ws.process.fd_limit import raise_open_files_limit
from django_ws.process.malloc import tune_malloc
from django_ws.server.wsgi import WebSocketServer, close_all, serve


class Command(RunserverCommand):
    help = "Starts a gevent web server that serves HTTP and WebSockets, for development."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--nostatic", action="store_false", dest="use_static_handler",
            help="Do not serve static files from STATIC_URL (as runserver --nostatic).",
        )
        parser.add_argument(
            "--insecure", action="store_true", dest="insecure_serving",
            help="Serve static files even if DEBUG is False (as runserver --insecure).",
        )
        parser.add_argument(
            "--no-access-log", action="store_false", dest="access_log",
            help="Do not log a line per request and per WebSocket connection.",
        )
        parser.add_argument(
            "--drain-timeout", type=float, default=10.0,
            help="Seconds to let WebSocket views end after SIGTERM/SIGINT (default 10).",
        )

    def run(self, **options: Any) -> None:
        if options["use_reloader"] and os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) != "true":
            # The autoreloader's parent process. Ctrl-C reaches the whole
            # process group: the child shuts down gracefully (1001 to every
            # WebSocket), and the parent must wait for it rather than kill it
            # at once, as its KeyboardInterrupt handling would.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        super().run(**options)

    def get_handler(self, *args: Any, **options: Any) -> Any:
        handler = super().get_handler(*args, **options)
        if apps.is_installed("django.contrib.staticfiles") and options.get(
            "use_static_handler", True
        ) and (settings.DEBUG or options.get("insecure_serving")):
            from django.contrib.staticfiles.handlers import StaticFilesHandler

            return StaticFilesHandler(handler)
        return handler

    def inner_run(self, *args: Any, **options: Any) -> None:
        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        for error in check_gevent_patched():
            raise CommandError(f"{error.id}: {error.msg}\nHINT: {error.hint}")
        if ws_settings.TUNE_MALLOC:
            tune_malloc()
        raise_open_files_limit()  # a connection is a file descriptor
        self.check_migrations()
        # As runserver: close what the migration check opened.
        for conn in connections.all(initialized_only=True):
            conn.close()
        autoreload.file_changed.connect(self._restarting, weak=False)
        try:
            server = WebSocketServer(
                (self.addr, int(self.port)), self.get_handler(*args, **options),
                log=_RequestLog(self.stdout) if options["access_log"] else None,
            )
            server.init_socket()
        except OSError as exc:
            errors = {
                errno.EACCES: "You don't have permission to access that port.",
                errno.EADDRINUSE: "That port is already in use.",
                errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
            }
            self.stderr.write(f"Error: {errors.get(exc.errno or 0, exc)}")
            os._exit(1)
        self._announce(server.server_port)
        serve(server, drain_timeout=options["drain_timeout"],
              loop_blocked_threshold=ws_settings.LOOP_BLOCKED_THRESHOLD)
        if options.get("shutdown_message"):
            self.stdout.write(options["shutdown_message"])
        if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true":
            # Under the autoreloader this runs beside its watch loop, which
            # would keep the process alive: the shutdown is complete, leave.
            self.stdout.flush()
            os._exit(0)

    def _restarting(self, sender: Any, file_path: Any, **kwargs: Any) -> None:
        # The autoreloader is about to restart the process: tell clients it
        # is a restart (RFC 6455 7.4.1: 1012), so they reconnect, and give the
        # views a moment to end. Returning None lets the reload go on.
        closing = close_all(CloseCode.SERVICE_RESTART, "server restarting")
        gevent.joinall(closing, timeout=2.0)

    def _announce(self, port: int) -> None:
        addr = f"[{self.addr}]" if self._raw_ipv6 else self.addr
        self.stdout.write(
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting gevent server (HTTP and WebSocket) at http://{addr}:{port}/\n"
            f"Quit the server with CONTROL-C.\n"
        )
        self.stdout.flush()


class _RequestLog:
    """pywsgi's access log (one line per request and per WebSocket) to stdout."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, line: str) -> None:
        self.stream.write(line.rstrip("\n"))
        self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)
