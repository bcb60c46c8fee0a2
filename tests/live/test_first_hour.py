"""What a new user meets in the first hour: stopping runws, runserver's 400."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

from django_ws.testing import LiveServer
from tests.support.clients import SETTINGS, handshake
from tests.support.net import free_port, recv_until, wait_for_port
from tests.support.timing import TIMEOUT


def keep_alive_request(sock: socket.socket, path: str = "/echo/") -> bytes:
    """One HTTP/1.1 request on ``sock``; returns the response, leaving it open."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(65536)
    head, _, body = response.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_shutdown_closes_idle_keep_alive_connections_at_once(live_db):
    # A browser tab keeps an idle keep-alive connection: stopping the server
    # must not wait for it (until WEBSOCKET_HANDSHAKE_TIMEOUT or the drain
    # timeout), nor log it as a slow client.
    live = LiveServer(settings_module=SETTINGS, env={"DJANGO_WS_TEST_DB": live_db},
                      settings={"WEBSOCKET_HANDSHAKE_TIMEOUT": TIMEOUT * 6},
                      drain_timeout=TIMEOUT * 4).start()
    try:
        idle = socket.create_connection((live.host, live.port), timeout=TIMEOUT)
        silent = socket.create_connection((live.host, live.port), timeout=TIMEOUT)
        assert keep_alive_request(idle).startswith(b"HTTP/1.1 200")
        live.process.send_signal(15)  # SIGTERM, to the server we started
        # Both get end-of-file well before the drain timeout would end them.
        assert idle.recv(1) == b""
        assert silent.recv(1) == b""
        assert live.process.wait(TIMEOUT * 2) == 0
    finally:
        live.stop()
        idle.close()
        silent.close()
    log = live.log()
    assert "closed 2 idle keep-alive connection(s)" in log
    assert "no complete request" not in log
    assert "Traceback" not in log


def test_runserver_answers_an_upgrade_with_400_and_says_once_on_the_console(tmp_path):
    # The browser only shows "Unexpected response code: 400": the console
    # must say what to do, once per process, not once per attempt.
    port = free_port()
    env = {**os.environ, "DJANGO_WS_DEMO_DB": str(tmp_path / "demo.sqlite3"),
           "DJANGO_SETTINGS_MODULE": "demo_project.settings"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload",
         "--skip-checks"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(handshake("/echo/"))
                answer = recv_until(sock, b"runws")
                assert answer.startswith(b"HTTP/1.1 400")
    finally:
        process.terminate()  # the runserver we started, by its PID
        output = process.communicate(timeout=TIMEOUT)[0]
    warnings = re.findall(r"reached Django through a server that cannot upgrade it", output)
    assert len(warnings) == 1, output
    assert "manage.py runws" in output
