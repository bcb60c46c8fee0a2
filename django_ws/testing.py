"""Test helpers: run the real server for a test project, and talk to it.

- :class:`LiveServer` starts ``runws`` in a child process (gevent
  monkey-patches the whole process, which a test runner must not be) on a
  free port of 127.0.0.1, with optional settings overrides, and stops it by
  PID.
- :func:`connect` opens a blocking client connection (the websockets
  library's sync client) with headers and cookies, and :class:`Client` has
  ``send``/``receive(timeout)``/``close`` and assertions on the close code;
  a refused handshake raises :class:`HandshakeRejected` with its status.
- :class:`WebSocketLiveServerTestCase` (unittest) and the pytest fixtures
  ``ws_live_server`` and ``ws_connect`` (this package's pytest plugin) wire
  them into a test suite::

    def test_echo(ws_connect):
        client = ws_connect("/echo/")
        client.send("hi")
        assert client.receive() == "hi"

The live server uses the databases of its settings module: give it a file
or server database (SQLite in memory is private to each process).

Running this module starts such a server: ``python -m django_ws.testing
--overrides JSON [runws arguments]``; it is what LiveServer runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

try:  # Django's TestCase classes need configured settings only when used.
    from django.test import SimpleTestCase as _SimpleTestCase
except ImportError:  # pragma: no cover
    _SimpleTestCase = object  # type: ignore[misc,assignment]

__all__ = [
    "Client",
    "HandshakeRejected",
    "LiveServer",
    "WebSocketLiveServerTestCase",
    "connect",
]

_BANNER = re.compile(r"Starting gevent server .* at http://(?P<host>[^ ]+?):(?P<port>\d+)/")


class LiveServer:
    """A ``runws`` child process for tests.

    Args:
        settings: settings to override in the server (JSON-serialisable).
        port: the port to listen on; 0 (the default) picks a free one.
        drain_timeout: seconds ``stop()`` lets views end (runws
            ``--drain-timeout``); short by default, since test clients
            often leave without answering the close.
        via_manage: run ``django-admin runws`` itself (which patches after
            Django is set up, as ``manage.py runws`` does) instead of this
            module's runner; settings overrides are then not available.
        settings_module: ``DJANGO_SETTINGS_MODULE`` of the server; defaults
            to this process's.
        env: extra environment variables for the child.
        start_timeout: seconds to wait for the server to listen.
    """

    def __init__(
        self,
        *,
        settings: Mapping[str, Any] | None = None,
        settings_module: str | None = None,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
        port: int = 0,
        via_manage: bool = False,
        drain_timeout: float = 1.0,
        start_timeout: float = 30.0,
    ) -> None:
        self.settings = dict(settings or {})
        self.settings_module = settings_module or os.environ.get("DJANGO_SETTINGS_MODULE")
        self.env = dict(env or {})
        self.args = args
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self.host = "127.0.0.1"
        self.requested_port = port  # 0: any free port
        self.via_manage = via_manage
        self.drain_timeout = drain_timeout
        self.port = 0
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    # -- addresses -----------------------------------------------------------

    def http_url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path: str = "/") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    # -- life cycle ----------------------------------------------------------

    def start(self) -> LiveServer:
        self.port = 0
        self.output = []
        if self.settings_module is None:
            raise RuntimeError("LiveServer needs settings_module or DJANGO_SETTINGS_MODULE")
        env = {**os.environ, **self.env, "DJANGO_SETTINGS_MODULE": self.settings_module}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        address = f"127.0.0.1:{self.requested_port}"
        args = ("--drain-timeout", str(self.drain_timeout), *self.args)
        if self.via_manage:
            if self.settings:
                raise ValueError("LiveServer(via_manage=True) cannot override settings")
            command = [sys.executable, "-m", "django", "runws", address, "--noreload", *args]
        else:
            command = [
                sys.executable, "-m", "django_ws.testing",
                "--overrides", json.dumps(self.settings), address, "--noreload", *args,
            ]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # a Ctrl-C in the terminal is the runner's alone
        )
        port_found = threading.Event()
        self._reader = threading.Thread(
            target=self._read_output, args=(self.process.stdout, port_found), daemon=True
        )
        self._reader.start()
        if not port_found.wait(self.start_timeout) or not self.port:
            self.stop()
            raise RuntimeError("runws did not start:\n" + "".join(self.output[-50:]))
        return self

    def _read_output(self, stream: TextIO, port_found: threading.Event) -> None:
        for line in stream:
            self.output.append(line)
            if not self.port:
                match = _BANNER.search(line)
                if match:
                    self.port = int(match["port"])
                    port_found.set()
        port_found.set()  # the process ended

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the server as SIGTERM does in production; return its exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return process.returncode

    def log(self) -> str:
        """Everything the server printed so far."""
        return "".join(self.output)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until a line of the server's output matches ``pattern``."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            for line in list(self.output):
                match = regex.search(line)
                if match:
                    return match
            if time.monotonic() > deadline:
                raise TimeoutError(f"no line matching {pattern!r} in:\n{self.log()[-3000:]}")
            time.sleep(0.02)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class HandshakeRejected(AssertionError):
    """The server answered the handshake with an HTTP status, not 101."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__(f"handshake refused with HTTP {status}: {body[:200]!r}")


class Client:
    """A blocking WebSocket client connection for tests."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol  # type: ignore[no-any-return]

    def send(self, message: Any) -> None:
        """Send ``str`` as text, bytes-like as binary, a dict or list as JSON."""
        if isinstance(message, (dict, list)):
            message = json.dumps(message)
        self.connection.send(message)

    def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message; raises TimeoutError, or ConnectionClosed once closed."""
        return self.connection.recv(timeout=self.timeout if timeout is None else timeout)  # type: ignore[no-any-return]

    def receive_json(self, timeout: float | None = None) -> Any:
        return json.loads(self.receive(timeout))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.connection.close(code, reason)

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame, once closed."""
        rcvd = self.connection.protocol.close_rcvd
        return rcvd.code if rcvd is not None else None

    def assert_closed(self, code: int, timeout: float | None = None) -> None:
        """Read until the server closes; assert its close code."""
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                self.receive(timeout)
        except ConnectionClosed:
            pass
        assert self.close_code == code, f"closed with {self.close_code}, expected {code}"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def connect(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
    subprotocols: list[str] | None = None,
    origin: str | None = None,
    timeout: float = 10.0,
) -> Client:
    """Open a WebSocket to ``url`` (``ws://...``).

    Raises:
        HandshakeRejected: the server answered with another status than 101.
    """
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as websockets_connect

    additional = dict(headers or {})
    if cookies:
        additional["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    try:
        # Entered by hand: the client lives until close(), not a with block.
        connection = websockets_connect(
            url, additional_headers=additional, subprotocols=subprotocols,  # type: ignore[arg-type]
            origin=origin, open_timeout=timeout, proxy=None,  # type: ignore[arg-type]
        ).__enter__()
    except InvalidStatus as exc:
        raise HandshakeRejected(exc.response.status_code, bytes(exc.response.body or b"")) from None
    return Client(connection, timeout)


class WebSocketLiveServerTestCase(_SimpleTestCase):
    """A unittest TestCase with the project under ``runws`` for the whole class.

    Class attributes: ``websocket_settings`` (overrides for the server) and
    ``server_env`` (extra environment). ``self.connect(path, ...)`` opens a
    :class:`Client`; ``cls.server`` is the :class:`LiveServer`.
    """

    websocket_settings: dict[str, Any] = {}
    server_env: dict[str, str] = {}
    server: LiveServer

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.server = LiveServer(settings=cls.websocket_settings, env=cls.server_env).start()
        cls.addClassCleanup(cls.server.stop)

    def connect(self, path: str, **kwargs: Any) -> Client:
        client = connect(self.server.ws_url(path), **kwargs)
        self.addCleanup(client.close)
        return client


def _main(argv: list[str]) -> None:
    # Patch before Django is set up, as runws would if it could run first.
    from django_ws.process.patching import patch

    patch()
    import django
    from django.core.management import call_command
    from django.test.utils import override_settings

    overrides: dict[str, Any] = {}
    if argv[:1] == ["--overrides"]:
        overrides = json.loads(argv[1])
        argv = argv[2:]
    django.setup()
    override_settings(**overrides).enable()
    call_command("runws", *argv)


if __name__ == "__main__":
    _main(sys.argv[1:])
