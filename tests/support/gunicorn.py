"""gunicorn with django_ws's worker on a free port of 127.0.0.1, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tests.support.net import free_port
from tests.support.timing import TIMEOUT, wait_for


class Gunicorn:
    """``gunicorn -k django_ws.gunicorn.GeventWebSocketWorker tests.wsgi``.

    Args:
        live_db: the test database the workers share.
        workers: ``-w``; the launcher waits for that many workers.
        args: more command-line arguments (they win over ours).
        env: more environment variables.
        settings: ``DJANGO_SETTINGS_MODULE``; None: unset, as users run it
            (the project's wsgi.py sets it after gunicorn imported the worker
            class in the arbiter).
        config: a ``gunicorn.conf.py`` to pass with ``-c``.
    """

    def __init__(self, live_db: str, *, workers: int = 2, args: Iterable[str] = (),
                 env: Iterable[tuple[str, str]] = (), settings: str | None = None,
                 config: Path | None = None) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.env = {**os.environ, "DJANGO_WS_TEST_DB": live_db, **dict(env)}
        if settings is None:
            self.env.pop("DJANGO_SETTINGS_MODULE", None)
        else:
            self.env["DJANGO_SETTINGS_MODULE"] = settings
        self.workers = workers
        command = [sys.executable, "-m", "gunicorn"]
        if config is not None:
            command += ["-c", str(config)]
        command += ["-k", "django_ws.gunicorn.GeventWebSocketWorker", "-w", str(workers),
                    "-b", f"{self.host}:{self.port}", "--graceful-timeout", "10", *args,
                    "tests.wsgi"]
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + TIMEOUT * 3
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.05)
        wait_for(lambda: len(self.worker_pids()) == workers, timeout=TIMEOUT * 3)

    def worker_pids(self) -> list[int]:
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as children:
            return [int(pid) for pid in children.read().split()]

    def http_url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(TIMEOUT * 2)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(TIMEOUT)
