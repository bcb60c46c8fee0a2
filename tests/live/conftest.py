"""Fixtures of the live tests: a Redis Cluster of Debian's redis-server, gunicorn."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.redis import Cluster, redis_binary
from tests.support.timing import TIMEOUT, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The module's cluster; stopped by PID."""
    cli = redis_binary("redis-cli")
    nodes = Cluster(tmp_path_factory.mktemp("cluster"))
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

