"""The tests' fixtures (their helpers are in tests/support/), and their markers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import SETTINGS
from tests.support.timing import TIMEOUT

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


@pytest.fixture
def before():
    """The in-process census (tests/support/core.py) before the test: what it must be
    back to once the test's connections ended."""
    from tests.support.core import census, ended_connections

    ended_connections.clear()
    return census()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module (tests/support/browser.py)."""
    from tests.support.browser import chromium

    with chromium() as launched:
        yield launched

