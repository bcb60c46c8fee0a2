"""Groups that lose nothing, against a real redis-server and two runws processes.

Each test runs its own redis-server (stopped and started by PID) and the
servers it needs; the clients are websocket-client connections, the
broadcasts go through a server's HTTP view or a plain RedisBackend in this
process (no gevent: what a management command or a task does).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest
import redis
import websocket

from django_ws.groups.envelopes import parse_position
from django_ws.groups.redis import RedisBackend
from django_ws.testing import LiveServer
from tests.support.recovery import (
    PREFIX,
    assert_latest_comes_first,
    assert_nothing_more,
    broadcast,
    broadcast_when_up,
    member,
    read_until,
    receive,
    state,
)
from tests.support.redis import RedisProcess
from tests.support.timing import TIMEOUT, UNIT, wait_for


@pytest.fixture
def redis_process(tmp_path):
    process = RedisProcess(tmp_path, durable=True)
    process.start()
    yield process
    process.stop()


def groups(url, **options):
    return {
        "default": {
            "BACKEND": "django_ws.groups.redis.RedisBackend",
            "OPTIONS": {"url": url, "prefix": PREFIX, "subscribe_timeout": TIMEOUT, **options},
        }
    }


@contextlib.contextmanager
def two_servers(redis_url, live_db, **options):
    """Two runws processes on the same Redis, with these backend options."""
    settings = {"WEBSOCKET_GROUPS": groups(redis_url, **options)}
    env = {"DJANGO_WS_TEST_DB": live_db}
    with (
        LiveServer(settings_module="tests.settings", settings=settings, env=env) as one,
        LiveServer(settings_module="tests.settings", settings=settings, env=env) as two,
    ):
        yield one, two


@pytest.fixture
def servers(redis_process, live_db):
    with two_servers(redis_process.url, live_db) as both:
        yield both


@pytest.mark.parametrize("where", ["same process", "other process"])
def test_a_reconnecting_client_gets_exactly_what_it_missed(servers, where):
    one, two = servers
    ws, first = member(one, "room", recover=1)
    since = first["position"]
    ws.close()
    positions = [broadcast(one, "room", f"missed {n}") for n in range(20)]
    back, first = member(one if where == "same process" else two, "room", since=since)
    assert first == {"group": "room", "recovered": True, "position": positions[-1]}
    assert receive(back, 20) == [
        {"group": "room", "position": p, "data": f"missed {n}"} for n, p in enumerate(positions)
    ]
    assert_nothing_more(back)
    live = broadcast(two, "room", "live")
    assert json.loads(back.recv()) == {"group": "room", "position": live, "data": "live"}
    back.close()


def test_the_js_parameter_in_the_query_string(servers):
    one, _ = servers
    since = broadcast(one, "room", "seen")
    missed = broadcast(one, "room", "missed")
    ws, first = member(one, "room", recover=1, django_ws_since=json.dumps({"room": since}))
    assert first == {"group": "room", "recovered": True, "position": missed}
    assert receive(ws, 1)[0]["data"] == "missed"
    ws.close()


def test_past_the_window_recovered_false_and_no_replay(redis_process, live_db):
    settings = {"WEBSOCKET_GROUPS": groups(redis_process.url, history_size=5)}
    with LiveServer(
        settings_module="tests.settings", settings=settings, env={"DJANGO_WS_TEST_DB": live_db}
    ) as server:
        since = broadcast(server, "room", "seen")
        positions = [broadcast(server, "room", f"m{n}") for n in range(10)]
        ws, first = member(server, "room", since=since)
        assert first == {"group": "room", "recovered": False, "position": positions[-1]}
        assert_nothing_more(ws)
        # The history keeps exactly history_size, for ordinary views too.
        assert [m for _, m in state(server, "room")["history"]] == [f"m{n}" for n in range(5, 10)]
        ws.close()


def test_after_flushall_recovered_false_and_no_replay(servers, redis_process):
    one, two = servers
    since = broadcast(one, "room", "seen")
    redis.Redis.from_url(redis_process.url).flushall()
    after = broadcast(one, "room", "after the flush")
    assert parse_position(after)[0] != parse_position(since)[0]  # a new epoch
    ws, first = member(two, "room", since=since)
    assert first == {"group": "room", "recovered": False, "position": after}
    assert_nothing_more(ws)
    ws.close()


def test_after_a_restart_without_persistence_recovered_false(servers, redis_process):
    one, _ = servers
    since = broadcast(one, "room", "seen")
    redis_process.stop()
    redis_process.durable = False
    redis_process.start()  # no AOF loaded: an empty Redis on the same port
    # The server's publisher reconnects at its next command.
    (after,) = broadcast_when_up(one, "room", ["after the restart"], timeout=TIMEOUT)
    ws, first = member(one, "room", since=since)
    assert first == {"group": "room", "recovered": False, "position": after}
    assert_nothing_more(ws)
    ws.close()


def test_live_messages_racing_the_replay(redis_process, live_db):
    # The window holds all of them: the join may come late under load, and
    # this test is about the merge, not the window.
    settings = {"WEBSOCKET_GROUPS": groups(redis_process.url, history_size=1000)}
    with LiveServer(
        settings_module="tests.settings", settings=settings, env={"DJANGO_WS_TEST_DB": live_db}
    ) as server:
        race(server, redis_process)


def race(two, redis_process):
    publisher = RedisBackend(
        "test", {"url": redis_process.url, "prefix": PREFIX, "history_size": 1000}
    )
    since = publisher.broadcast("race", b"0", text=True, kind="s")
    total = 300
    started = threading.Event()

    def publish():
        for n in range(1, total + 1):
            publisher.broadcast("race", str(n).encode(), text=True, kind="s")
            if n == 20:
                started.set()

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        assert started.wait(TIMEOUT)
        ws, first = member(two, "race", since=since)  # joins while messages pour in
        assert first["recovered"] is True
        # Each message at most twice (replayed, and live), each read within
        # the socket's timeout.
        seen = read_until(ws, str(total), at_most=2 * total)
        # No gap, in order: every message from the one after since, once.
        assert [int(seen[k]) for k in sorted(seen)] == list(range(1, total + 1))
        assert list(seen) == sorted(seen)
        assert_nothing_more(ws)
        ws.close()
    finally:
        thread.join(TIMEOUT)
        publisher.close()


def test_redis_killed_and_restarted_while_connected_nothing_lost(servers, redis_process):
    one, two = servers
    members = [member(one, "room", recover=1)[0], member(two, "room", recover=1)[0]]
    before = broadcast(one, "room", "before")
    for ws in members:
        assert json.loads(ws.recv())["position"] == before
    redis_process.stop()
    redis_process.start()  # AOF: the stream survives
    # Published before the listeners are back.
    positions = broadcast_when_up(one, "room", [f"during {n}" for n in range(5)])
    for ws in members:
        ws.settimeout(3 * TIMEOUT)  # the listener's back-off is at most 5 s
        got = []
        while len(got) < 5:
            envelope = json.loads(ws.recv())
            assert "recovered" not in envelope, envelope  # recovered, not given up
            got.append(envelope)
        assert got == [
            {"group": "room", "position": p, "data": f"during {n}"} for n, p in enumerate(positions)
        ]
        ws.settimeout(TIMEOUT)
        assert_nothing_more(ws)
        ws.close()


def test_presence_across_two_processes(servers):
    one, two = servers
    watcher, _ = member(one, "room", recover=1)
    alice, _ = member(one, "room", presence="alice")
    assert json.loads(watcher.recv()) == {
        "group": "room",
        "presence": "join",
        "info": {"name": "alice"},
    }
    bob, _ = member(two, "room", presence="bob")
    # Every envelope member gets the join, the one who joined too.
    assert json.loads(bob.recv())["info"] == {"name": "bob"}
    # Bob joined in the other process: the join envelope crosses over.
    assert json.loads(watcher.recv()) == {
        "group": "room",
        "presence": "join",
        "info": {"name": "bob"},
    }
    for server in (one, two):
        listed = state(server, "room")["presence"]
        assert [r["info"]["name"] for r in listed] == ["alice", "bob"]
        assert all(isinstance(r["connection"], str) and r["joined"] > 0 for r in listed)
    bob.send("leave")
    assert bob.recv() == "left"
    assert json.loads(watcher.recv()) == {
        "group": "room",
        "presence": "leave",
        "info": {"name": "bob"},
    }
    assert [r["info"]["name"] for r in state(one, "room")["presence"]] == ["alice"]
    alice.close()
    assert json.loads(watcher.recv())["presence"] == "leave"
    assert state(two, "room")["presence"] == []
    watcher.close()


def test_a_killed_servers_members_leave_presence_within_the_ttl(redis_process, live_db):
    ttl = 1.0 * UNIT
    with two_servers(redis_process.url, live_db, presence_ttl=ttl) as (one, two):
        alice, _ = member(one, "room", presence="alice")
        bob, _ = member(two, "room", presence="bob")
        assert [e["info"]["name"] for e in receive(alice, 2)] == ["alice", "bob"]
        time.sleep(2 * ttl)  # refreshed meanwhile: both still listed
        assert [r["info"]["name"] for r in state(one, "room")["presence"]] == ["alice", "bob"]
        two.process.kill()  # SIGKILL: no leave, no cleanup
        two.process.wait(TIMEOUT)
        # Within the TTL, read from Redis rather than timed: nobody refreshes
        # bob's record now, and the expiry it carries is at most a TTL away
        # (Redis's clock, in ms, as the presence script compares it).
        client = redis.Redis.from_url(redis_process.url)
        seconds, micros = client.time()
        now_ms = seconds * 1000 + micros // 1000
        expiries = [score for _, score in client.zrange(
            f"{PREFIX}{{room}}.presence.exp", 0, -1, withscores=True)]
        client.close()
        assert len(expiries) == 2 and max(expiries) <= now_ms + ttl * 1000
        # The live process sweeps bob out (every TTL / 3) and announces his
        # leave, once: nobody else did.
        alice.settimeout(2 * ttl + TIMEOUT)
        assert json.loads(alice.recv()) == {
            "group": "room", "presence": "leave", "info": {"name": "bob"}
        }
        alice.settimeout(TIMEOUT)
        assert_nothing_more(alice)
        wait_for(
            lambda: [r["info"]["name"] for r in state(one, "room")["presence"]] == ["alice"],
            timeout=ttl + TIMEOUT,
        )
        alice.close()
        try:
            bob.close()
        except (OSError, websocket.WebSocketException):
            pass


def test_presence_that_redis_lost_is_listed_again_and_announced(redis_process, live_db):
    ttl = 1.0 * UNIT
    with two_servers(redis_process.url, live_db, presence_ttl=ttl) as (one, two):
        alice, _ = member(one, "room", presence="alice")
        assert receive(alice, 1)[0]["presence"] == "join"
        watcher, _ = member(two, "room", recover=1)
        redis.Redis.from_url(redis_process.url).flushall()
        # The next refresh (every TTL / 3) writes alice's record again, and
        # tells every envelope member, which may have reloaded its state
        # without her meanwhile.
        watcher.settimeout(ttl + TIMEOUT)
        rejoined = {"group": "room", "presence": "join", "info": {"name": "alice"}}
        assert json.loads(watcher.recv()) == rejoined
        assert [r["info"]["name"] for r in state(two, "room")["presence"]] == ["alice"]
        alice.settimeout(TIMEOUT)
        assert json.loads(alice.recv()) == rejoined
        time.sleep(ttl)  # more refreshes: she is announced once
        watcher.settimeout(TIMEOUT)
        assert_nothing_more(watcher)
        alice.close()
        assert json.loads(watcher.recv())["presence"] == "leave"
        watcher.close()


def test_a_quiet_group_costs_nothing_in_redis(redis_process):
    backend = RedisBackend("test", {"url": redis_process.url, "prefix": PREFIX, "history_ttl": 1})
    client = redis.Redis.from_url(redis_process.url)
    try:
        for n in range(300):
            backend.broadcast("quiet", str(n).encode(), text=True, kind="s")
        keys = sorted(k.decode() for k in client.keys(f"{PREFIX}*"))
        assert keys == [f"{PREFIX}{{quiet}}.meta", f"{PREFIX}{{quiet}}.stream"]
        assert all(0 < client.pttl(key) <= 1000 for key in keys)
        assert client.xlen(f"{PREFIX}{{quiet}}.stream") < 300  # MAXLEN ~ 100
        assert [m for _, m in backend.history("quiet")] == [str(n) for n in range(200, 300)]
        wait_for(lambda: client.keys(f"{PREFIX}*") == [], timeout=1 + TIMEOUT)
    finally:
        backend.close()
        client.close()


def test_without_history_a_broadcast_is_a_plain_publish(redis_process):
    backend = RedisBackend("test", {"url": redis_process.url, "prefix": PREFIX, "history_size": 0})
    client = redis.Redis.from_url(redis_process.url)
    try:
        assert backend.broadcast("live", b"x", text=True, kind="s") is None
        assert client.keys(f"{PREFIX}*") == []
        assert backend.history("live") == []
    finally:
        backend.close()
        client.close()


def test_a_reconnect_storm_waits_for_a_redis_connection(redis_process, live_db):
    # 40 clients recover at once through 2 connections: they queue, none fails.
    from concurrent.futures import ThreadPoolExecutor

    settings = {"WEBSOCKET_GROUPS": groups(redis_process.url, max_connections=2)}
    with LiveServer(
        settings_module="tests.settings", settings=settings, env={"DJANGO_WS_TEST_DB": live_db}
    ) as server:
        since = broadcast(server, "storm", "seen")
        missed = [broadcast(server, "storm", f"m{n}") for n in range(10)]

        def reconnect(_):
            ws, first = member(server, "storm", since=since)
            got = receive(ws, 10)
            ws.close()
            return first["recovered"] and [e["position"] for e in got] == missed

        with ThreadPoolExecutor(40) as pool:
            assert all(pool.map(reconnect, range(40)))


def test_reading_the_history_of_an_unknown_group_creates_nothing(redis_process):
    backend = RedisBackend("test", {"url": redis_process.url, "prefix": PREFIX})
    client = redis.Redis.from_url(redis_process.url)
    try:
        assert backend.history("nobody") == []
        assert client.keys(f"{PREFIX}*") == []
    finally:
        backend.close()
        client.close()


def test_a_join_with_latest_gets_the_newest_message_from_another_process(servers):
    one, two = servers
    assert_latest_comes_first(one, two, f"prices-{time.monotonic_ns()}")
