"""redis-server (Debian's) on 127.0.0.1, started and stopped by PID: the one launcher.

A plain server for a session, a server a test kills and starts again on the
same port (``durable``: with an append-only file synced before each answer,
so that a SIGKILL loses nothing; set ``durable = False`` before a start to
come back empty), and the nodes of a Redis Cluster (``extra`` arguments).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_port
from tests.support.timing import TIMEOUT


def redis_binary(name: str = "redis-server") -> str:
    """The Debian binary; skipped where it is missing, failed under CI."""
    binary = shutil.which(name)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: .ci/run must install it")
        pytest.skip(f"{name} is not installed (apt-get install redis-server)")
    return binary


class RedisProcess:
    """One redis-server on a fixed free port (or ``port``) of 127.0.0.1."""

    def __init__(self, folder: Path | str, *, port: int | None = None, durable: bool = False,
                 extra: Iterable[str] = ()) -> None:
        self.binary = redis_binary()
        self.folder = str(folder)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.durable = durable
        self.extra = tuple(extra)
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.durable
                       else ["--appendonly", "no"])
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                *persistence, "--dir", self.folder, *self.extra]

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, self.process)
            self._wait_until_loaded()
        except BaseException:
            self.stop()
            raise

    def _wait_until_loaded(self) -> None:
        # Listening is not serving: a server loading its append-only file
        # answers LOADING until it is done.
        import redis

        from tests.support.timing import wait_for

        client = redis.Redis(port=self.port, socket_timeout=TIMEOUT)
        try:
            wait_for(lambda: _answers(client), timeout=TIMEOUT * 3)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGKILL, as a crash: no shutdown, no last write."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(TIMEOUT)


def _answers(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is a port too, and free."""

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

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = [cluster_port() for _ in range(3)]
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        self.processes: dict[int, RedisProcess] = {}

    def start(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(exist_ok=True)
        node = RedisProcess(folder, port=port, durable=True, extra=(
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"))
        node.start()
        self.processes[port] = node

    def kill(self, port: int) -> None:
        """SIGKILL, as a crash: no shutdown, no last write."""
        self.processes.pop(port).stop()

    def forget_data(self, port: int) -> None:
        """Remove a stopped node's AOF, keeping its nodes.conf (id and slots)."""
        assert port not in self.processes
        shutil.rmtree(self.folder / str(port) / "appendonlydir")

    def ok(self) -> bool:
        """Every node says the cluster is ok and knows all three masters."""
        for port in self.ports:
            import redis

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
