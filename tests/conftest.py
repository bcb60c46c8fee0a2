"""Shared fixtures: a real runws server on 127.0.0.1 and client helpers."""

from __future__ import annotations

import os
import struct
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

#: Markers from where a test lives (pyproject.toml lists them).
_FOLDER_MARKERS = {"live": ("live",), "browser": ("browser", "live"),
                   "compliance": ("live", "slow")}
_SLOW_FILES = {"test_redis_faults.py", "test_recovery.py", "test_recovery_cluster.py"}
#: ... and from the fixtures it uses.
_FIXTURE_MARKERS = {"redis_url": "redis", "cluster_url": "redis", "cluster": "redis",
                    "redis_process": "redis", "postgres": "postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        folder = path.parent.name
        names = set(_FOLDER_MARKERS.get(folder, ()))
        if path.name in _SLOW_FILES:
            names.add("slow")
        fixtures = getattr(item, "fixturenames", ())
        names.update(marker for fixture, marker in _FIXTURE_MARKERS.items()
                     if fixture in fixtures)
        # A backend fixture parametrized "redis"/"cluster" asks for Redis late.
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(value in ("redis", "cluster") for value in params.values()
               if isinstance(value, str)):
            names.add("redis")
        for name in sorted(names):
            item.add_marker(name)


@pytest.fixture(scope="session")
def live_db(tmp_path_factory):
    """A migrated SQLite file that the live servers share."""
    path = str(tmp_path_factory.mktemp("db") / "live.sqlite3")
    env = {**os.environ, "DJANGO_WS_TEST_DB": path, "DJANGO_SETTINGS_MODULE": SETTINGS}
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env, check=True,
                   timeout=120)
    return path


@pytest.fixture(scope="session")
def ws_live_server(live_db):
    """The plugin's fixture (django_ws.pytest_plugin), on the migrated test DB."""
    with LiveServer(settings_module=SETTINGS, env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


@pytest.fixture(scope="session")
def server(ws_live_server):
    """The test project under runws, default settings, for the whole session."""
    return ws_live_server


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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free port of 127.0.0.1, stopped by PID."""
    from tests.support.redis import RedisProcess

    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL server on a free port of 127.0.0.1; yields (host, port)."""
    import glob
    import shutil
    import socket
    import tempfile

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: .ci/run must install it")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = binaries[-1]
    # PostgreSQL refuses to run as root: run it as the postgres user there.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = tempfile.mkdtemp(prefix="django_ws_pg_")
    data = os.path.join(folder, "data")
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run([*as_user, f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*as_user, f"{bin_dir}/postgres", "-D", data, "-p", str(port), "-k", folder,
         "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + TIMEOUT * 3
    while subprocess.run([f"{bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL).returncode != 0:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("PostgreSQL did not start")
        time.sleep(0.1)
    yield "127.0.0.1", port
    process.terminate()  # runuser passes SIGTERM on: a "smart" shutdown
    try:
        process.wait(TIMEOUT * 3)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(folder, ignore_errors=True)


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


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False,
                 length: int | None = None) -> bytes:
    """A masked client frame (RFC 6455 5.2), built by hand so it can be wrong.

    ``length`` announces another payload length than the real one.
    """
    mask = b"\x01\x02\x03\x04"
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    length = len(payload) if length is None else length
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
        len(payload), "big") if payload else b""
    return head + mask + masked


class RawClient:
    """A bare-socket WebSocket client for hostile tests: sends what it is told."""

    def __init__(self, server, path="/echo/", *, extensions=None, timeout=TIMEOUT):
        import socket

        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        extra = [f"Sec-WebSocket-Extensions: {extensions}"] if extensions else []
        self.sock.sendall(handshake(path, extra=extra))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.response_head = head.decode("latin-1")
        assert self.response_head.startswith("HTTP/1.1 101"), self.response_head

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload)."""
        b0, b1 = self._read_exact(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        return b0 & 0x0F, self._read_exact(length)

    def recv_close_code(self) -> int:
        """Skip frames until the close frame; return its code."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()


def rss_kib(pid: int) -> int:
    """A process's resident memory, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


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


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = TIMEOUT * 3) -> None:
    """Wait until ``process`` listens on ``port`` of 127.0.0.1; fail if it exits first."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                output = process.communicate()[0] if process.stdout else ""
                raise RuntimeError(
                    f"the server exited ({process.returncode}): {output}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listened on port {port} within {timeout} s") from None
            time.sleep(0.05)


def recv_until(sock, marker: bytes) -> bytes:
    """Read from ``sock`` (its own timeout bounds each read) until ``marker`` arrived."""
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection ended before {marker!r}: {data!r}"
        data += chunk
    return data


@pytest.fixture
def before():
    """The in-process census (tests/core.py) before the test: what it must be
    back to once the test's connections ended."""
    from tests.core import census, ended_connections

    ended_connections.clear()
    return census()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module (tests/support/browser.py)."""
    from tests.support.browser import chromium

    with chromium() as launched:
        yield launched

