"""Shared fixtures: a real runws server on 127.0.0.1 and client helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import websocket

from django_ws.testing import LiveServer

#: One unit for every blocking call in the tests (websockets' MS idea):
#: raise DJANGO_WS_TEST_TIMEOUT_SCALE on a slow machine, never lower a test.
UNIT = float(os.environ.get("DJANGO_WS_TEST_TIMEOUT_SCALE", "1"))
TIMEOUT = 10 * UNIT

SETTINGS = "tests.settings"


@pytest.fixture(scope="session")
def live_db(tmp_path_factory):
    """A migrated SQLite file that the live servers share."""
    path = str(tmp_path_factory.mktemp("db") / "live.sqlite3")
    env = {**os.environ, "DJANGO_WS_TEST_DB": path, "DJANGO_SETTINGS_MODULE": SETTINGS}
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env, check=True,
                   timeout=120)
    return path


@pytest.fixture(scope="session")
def server(live_db):
    """The test project under runws, default settings, for the whole session."""
    with LiveServer(settings_module=SETTINGS, env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


@pytest.fixture
def server_factory(live_db):
    """Start a server with settings overrides; stopped after the test."""
    started = []

    def start(**settings):
        live = LiveServer(settings_module=SETTINGS, settings=settings,
                          env={"DJANGO_WS_TEST_DB": live_db})
        started.append(live)
        return live.start()

    yield start
    for live in started:
        live.stop()


def connect(server, path, **options):
    """A websocket-client connection (an independent client library)."""
    options.setdefault("timeout", TIMEOUT)
    return websocket.create_connection(server.ws_url(path), **options)


def receive_close(ws):
    """Read until the server's close frame; return (code, reason)."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            # websocket-client answered the close frame (with 1000); the
            # server may now drop TCP, and the test needs the socket no more.
            data = frame.data
            ws.shutdown()
            if len(data) < 2:
                return 1005, ""
            return int.from_bytes(data[:2], "big"), data[2:].decode()


def raw_request(server, head: bytes, *, read_until_close=True):
    """Send raw bytes as a request; return (status, headers dict, body)."""
    import socket

    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data or read_until_close:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def handshake(path="/echo/", *, key="dGhlIHNhbXBsZSBub25jZQ==", version="13", extra=(),
              method="GET", http="HTTP/1.1"):
    """The bytes of a handshake request, with parts to break."""
    lines = [f"{method} {path} {http}", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def wait_for(function, timeout=TIMEOUT, interval=0.02):
    """Poll until ``function()`` returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = function()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{function} stayed falsy for {timeout} s")
        time.sleep(interval)
