"""Test helpers: run the real server for a test project.

:class:`LiveServer` starts ``runws`` in a child process (gevent monkey-patches
the whole process, which a test runner must not be) on a free port of
127.0.0.1, with optional settings overrides, and stops it by PID. Tests then
talk to it with any WebSocket client::

    with LiveServer(settings={"WEBSOCKET_ACCEPT_ALL": True}) as server:
        ws = websocket.create_connection(server.ws_url("/echo/"))

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

__all__ = ["LiveServer"]

_BANNER = re.compile(r"Starting gevent server .* at http://(?P<host>[^ ]+?):(?P<port>\d+)/")


class LiveServer:
    """A ``runws`` child process for tests.

    Args:
        settings: settings to override in the server (JSON-serialisable).
        port: the port to listen on; 0 (the default) picks a free one.
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
        command = [
            sys.executable, "-m", "django_ws.testing",
            "--overrides", json.dumps(self.settings),
            f"127.0.0.1:{self.requested_port}", "--noreload", *self.args,
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


def _main(argv: list[str]) -> None:
    # Patch before Django is set up, as runws would if it could run first.
    from gevent import monkey

    monkey.patch_all()
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
