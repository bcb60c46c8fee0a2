"""Redis faults under a live server: down at the first join, killed mid-broadcast,
restarted. Each test runs its own redis-server, stopped and started by PID.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
import websocket

from django_ws.testing import LiveServer
from tests.support.clients import connect, receive_close
from tests.support.redis import RedisProcess
from tests.support.timing import TIMEOUT, UNIT, wait_for


@pytest.fixture
def redis_process(tmp_path):
    redis = RedisProcess(tmp_path)
    yield redis
    redis.stop()


@pytest.fixture
def server(redis_process, live_db):
    groups = {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                          "OPTIONS": {"url": redis_process.url, "prefix": "faults:",
                                      "subscribe_timeout": TIMEOUT}}}
    with LiveServer(settings_module="tests.settings", settings={"WEBSOCKET_GROUPS": groups},
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


def broadcast(server, group, message) -> bool:
    """Broadcast from the server's HTTP view; False when Redis refused it."""
    url = server.http_url(f"/group/{group}/broadcast/?message={message}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT):
            return True
    except urllib.error.HTTPError:
        return False


def join_room(server):
    member = connect(server, "/group/room/member/")
    assert member.recv() == "joined"
    return member


def test_redis_down_at_the_first_join(server, redis_process):
    # The first member's join fails (its view ends with 1011); once Redis is
    # there, the next member subscribes (the group was not left recorded as
    # joined but unsubscribed) and gets the broadcasts.
    first = connect(server, "/group/room/member/")
    assert receive_close(first)[0] == 1011
    redis_process.start()
    member = join_room(server)
    assert broadcast(server, "room", "hello")
    assert member.recv() == "hello"
    member.close()


def test_redis_killed_mid_broadcast_then_restarted(server, redis_process):
    redis_process.start()
    member = join_room(server)
    assert broadcast(server, "room", "before")
    assert member.recv() == "before"
    redis_process.stop()
    assert not broadcast(server, "room", "lost")  # Redis is gone: the publish fails
    redis_process.start()
    # The listener reconnects with back-off (at most 5 s between tries) and
    # subscribes again: broadcasts get through within a bounded time.
    member.settimeout(0.2 * UNIT)
    deadline = time.monotonic() + 3 * TIMEOUT
    received = None
    while received is None and time.monotonic() < deadline:
        if broadcast(server, "room", "after"):
            try:
                received = member.recv()
            except websocket.WebSocketTimeoutException:
                pass
    assert received == "after"
    server.wait_for_log(r"Redis pub/sub is back after [\d.]+s; broadcasts to 'room' in that "
                        r"time were lost")
    member.settimeout(TIMEOUT)
    member.send("still here")
    assert member.recv() == "echo:still here"  # the connection itself never noticed
    member.close()
    assert redis_reconnects(server) == 1  # django_ws_redis_reconnects_total


def redis_reconnects(server) -> float:
    import re

    pytest.importorskip("prometheus_client")
    request = urllib.request.Request(server.http_url("/metrics/"), headers={
        "Authorization": "Bearer metrics-token-of-the-tests-0123"})  # tests/settings.py
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        text = response.read().decode()
    return float(re.search(r"^django_ws_redis_reconnects_total (\S+)$", text, re.M).group(1))


def test_redis_down_at_the_start_then_disconnect_orders_arrive(server, redis_process, live_db):
    # listen_for_orders() could not subscribe at the server's start: it says
    # so and tries again with back-off, so that once Redis is there a
    # disconnect() from another process reaches this one.
    import sqlite3

    import redis

    from django_ws.groups.disconnect import Order
    from django_ws.groups.redis import RedisBackend
    from tests.support.auth import login

    server.wait_for_log(r"cannot subscribe to 'faults:control:db0:' for disconnect orders",
                        TIMEOUT)
    name = f"fay-{time.monotonic_ns()}"
    ws = connect(server, "/echo/", cookie=login(server, name))
    with sqlite3.connect(live_db) as db:
        (pk,), = db.execute("SELECT id FROM auth_user WHERE username = ?", (name,))
    redis_process.start()
    client = redis.Redis.from_url(redis_process.url)
    try:
        # Subscribed again after the back-off (1 s, 2 s, 4 s...): a bounded
        # wait in the timeout unit, never a figure the test checks.
        wait_for(lambda: client.pubsub_numsub("faults:control:db0:")[0][1],
                 timeout=TIMEOUT * 4, interval=0.05)
    finally:
        client.close()
    other_process = RedisBackend("default", {"url": redis_process.url, "prefix": "faults:"})
    try:
        other_process.disconnect(Order(str(pk), None, 4001, "bye"))
    finally:
        other_process.close()
    assert receive_close(ws) == (4001, "bye")
