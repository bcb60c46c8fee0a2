"""The gunicorn worker: same behaviour as runws, in a multi-process server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import TIMEOUT, connect, receive_close

pytest.importorskip("gunicorn")


class Gunicorn:
    def __init__(self, live_db, workers=2, args=()):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.host = "127.0.0.1"
        env = {**os.environ, "DJANGO_WS_TEST_DB": live_db}
        # As users run it: the project's wsgi.py sets DJANGO_SETTINGS_MODULE,
        # after gunicorn imported the worker class in the arbiter.
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "django_ws.gunicorn.GeventWebSocketWorker",
             "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "10",
             *args, "tests.wsgi"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
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

    def ws_url(self, path):
        return f"ws://{self.host}:{self.port}{path}"

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(TIMEOUT * 2)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(TIMEOUT)


@pytest.fixture
def gunicorn(live_db):
    server = Gunicorn(live_db)
    yield server
    server.stop()


def test_echo_and_lazy_accept_under_gunicorn(gunicorn):
    import websocket

    sockets = [connect(gunicorn, "/echo/") for _ in range(20)]  # spread over workers
    for n, ws in enumerate(sockets):
        ws.send(f"#{n}")
        assert ws.recv() == f"#{n}"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(gunicorn, "/refuse/404/")
    assert info.value.status_code == 404
    for ws in sockets:
        ws.close()


@pytest.mark.parametrize("path", ["/echo/", "/detached/"])
def test_sigterm_closes_with_1001(gunicorn, path):
    ws = connect(gunicorn, path)
    ws.send("x")
    assert ws.recv() == "x"
    codes = []
    stopper = threading.Thread(target=lambda: codes.append(gunicorn.stop()))
    stopper.start()
    assert receive_close(ws)[0] == 1001
    stopper.join(TIMEOUT * 3)
    assert codes == [0]
