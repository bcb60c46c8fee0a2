"""Idle WebSocket views hold no database connection (real PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT

psycopg = pytest.importorskip("psycopg")

VIEWS = 500


def server_connections(host, port):
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                         connect_timeout=int(TIMEOUT)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
        return row[0]


@pytest.mark.parametrize("path", ["/db-idle/", "/db-idle-detached/"])
def test_500_idle_views_hold_a_bounded_number_of_connections(postgres, path):
    host, port = postgres
    env = {"DJANGO_WS_TEST_PG": f"{host}:{port}"}
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"],
                   env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "tests.pg_settings"},
                   check=True, timeout=120)
    with LiveServer(settings_module="tests.pg_settings", env=env) as live:
        sockets = []
        for _ in range(VIEWS):
            ws = connect(live, path)
            assert ws.recv() == "ready 0"  # each view ran a query...
            sockets.append(ws)
        # ...and now waits for a message: none of them holds a connection.
        assert server_connections(host, port) <= 5
        for ws in sockets:  # each can query again (one at a time: 500 concurrent
            ws.send("again")  # queries would need 500 connections, idle or not)
            assert ws.recv() == "count 0"
        assert server_connections(host, port) <= 5
        for ws in sockets:
            ws.close()
