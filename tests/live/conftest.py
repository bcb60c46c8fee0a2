"""Fixtures of the live tests: a Redis Cluster of Debian's redis-server."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import redis

from tests.conftest import TIMEOUT, durable_redis_command, free_port, wait_for, wait_for_port


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is a port too, and free."""
    import socket

    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


class Cluster:
    """Three masters, no replicas, each in its own folder with AOF (fsync
    always): a node killed by PID and started again on the same port keeps
    its node id and slots (nodes.conf) and its data (the AOF)."""

    def __init__(self, folder, binary: str) -> None:
        self.binary = binary
        self.folder = folder
        self.ports = [cluster_port() for _ in range(3)]
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            durable_redis_command(self.binary, port, folder, "--cluster-enabled", "yes",
                                  "--cluster-config-file", "nodes.conf"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, self.processes[port])

    def kill(self, port: int) -> None:
        """SIGKILL, as a crash: no shutdown, no last write."""
        process = self.processes.pop(port)
        process.kill()
        process.wait(TIMEOUT)

    def forget_data(self, port: int) -> None:
        """Remove a stopped node's AOF, keeping its nodes.conf (id and slots)."""
        assert port not in self.processes
        shutil.rmtree(self.folder / str(port) / "appendonlydir")

    def ok(self) -> bool:
        """Every node says the cluster is ok and knows all three masters."""
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=TIMEOUT)
            try:
                info = client.cluster("info")
            except redis.RedisError:
                return False
            finally:
                client.close()
            if info.get("cluster_state") != "ok" or int(info["cluster_known_nodes"]) != 3:
                return False
        return True

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill(port)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The module's cluster; stopped by PID."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run must install it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    nodes = Cluster(tmp_path_factory.mktemp("cluster"), binary)
    try:
        for port in nodes.ports:
            nodes.start(port)
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in nodes.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=TIMEOUT * 3,
        )
        wait_for(nodes.ok, timeout=TIMEOUT * 3)
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def cluster_url(cluster):
    return cluster.url


@pytest.fixture
def gunicorn(live_db):
    """gunicorn with two of our workers, as users run it (tests/support/gunicorn.py)."""
    pytest.importorskip("gunicorn")
    from tests.support.gunicorn import Gunicorn

    server = Gunicorn(live_db)
    yield server
    server.stop()

