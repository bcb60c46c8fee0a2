"""The recovery tests on a 3-master Redis Cluster (Debian's redis-server, 127.0.0.1).

Sharded pub/sub (SPUBLISH/SSUBSCRIBE) with the ``{group}`` hash tag: a
group's stream, meta key and channel live on one shard.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error

import pytest
import redis
import redis.cluster

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
from tests.support.timing import TIMEOUT, wait_for


def groups(url, **options):
    return {
        "default": {
            "BACKEND": "django_ws.groups.redis.RedisBackend",
            "OPTIONS": {
                "url": url,
                "prefix": PREFIX,
                "cluster": True,
                "subscribe_timeout": TIMEOUT,
                **options,
            },
        }
    }


@pytest.fixture
def servers(cluster_url, live_db):
    settings = {"WEBSOCKET_GROUPS": groups(cluster_url)}
    env = {"DJANGO_WS_TEST_DB": live_db}
    with (
        LiveServer(settings_module="tests.settings", settings=settings, env=env) as one,
        LiveServer(settings_module="tests.settings", settings=settings, env=env) as two,
    ):
        yield one, two


def group_name(label):
    return f"{label}-{time.monotonic_ns()}"  # one module-wide cluster: fresh groups


def test_the_groups_keys_and_channel_share_a_slot(cluster_url):
    backend = RedisBackend("test", {"url": cluster_url, "prefix": PREFIX, "cluster": True})
    client = redis.cluster.RedisCluster.from_url(cluster_url)
    try:
        group = group_name("slot")
        backend.broadcast(group, b"x", text=True, kind="s")
        names = [
            backend.redis.key(group, "meta"),
            backend.redis.key(group, "stream"),
            backend.redis.channel(group),
        ]
        assert len({client.keyslot(name) for name in names}) == 1
        # Spread over the shards: groups land on different masters.
        slots = {client.keyslot(backend.redis.channel(f"g{n}")) // 5462 for n in range(30)}
        assert len(slots) == 3
    finally:
        backend.close()
        client.close()


@pytest.mark.parametrize("where", ["same process", "other process"])
def test_a_reconnecting_client_gets_exactly_what_it_missed(servers, where):
    one, two = servers
    group = group_name("room")
    ws, first = member(one, group, recover=1)
    since = first["position"]
    ws.close()
    positions = [broadcast(one, group, f"missed {n}") for n in range(20)]
    back, first = member(one if where == "same process" else two, group, since=since)
    assert first == {"group": group, "recovered": True, "position": positions[-1]}
    assert receive(back, 20) == [
        {"group": group, "position": p, "data": f"missed {n}"} for n, p in enumerate(positions)
    ]
    assert_nothing_more(back)
    live = broadcast(two, group, "live")
    assert json.loads(back.recv()) == {"group": group, "position": live, "data": "live"}
    back.close()


def test_past_the_window_recovered_false(cluster_url, live_db):
    settings = {"WEBSOCKET_GROUPS": groups(cluster_url, history_size=5)}
    with LiveServer(
        settings_module="tests.settings", settings=settings, env={"DJANGO_WS_TEST_DB": live_db}
    ) as server:
        group = group_name("window")
        since = broadcast(server, group, "seen")
        positions = [broadcast(server, group, f"m{n}") for n in range(10)]
        ws, first = member(server, group, since=since)
        assert first == {"group": group, "recovered": False, "position": positions[-1]}
        assert_nothing_more(ws)
        ws.close()


def test_live_messages_racing_the_replay(cluster_url, live_db):
    settings = {"WEBSOCKET_GROUPS": groups(cluster_url, history_size=1000)}
    group = group_name("race")
    publisher = RedisBackend(
        "test", {"url": cluster_url, "prefix": PREFIX, "cluster": True, "history_size": 1000}
    )
    with LiveServer(
        settings_module="tests.settings", settings=settings, env={"DJANGO_WS_TEST_DB": live_db}
    ) as server:
        since = publisher.broadcast(group, b"0", text=True, kind="s")
        total = 200
        started = threading.Event()

        def publish():
            for n in range(1, total + 1):
                publisher.broadcast(group, str(n).encode(), text=True, kind="s")
                if n == 20:
                    started.set()

        thread = threading.Thread(target=publish)
        thread.start()
        try:
            assert started.wait(TIMEOUT)
            ws, first = member(server, group, since=since)
            assert first["recovered"] is True
            seen = read_until(ws, str(total), at_most=2 * total)
            assert [int(seen[k]) for k in sorted(seen)] == list(range(1, total + 1))
            assert_nothing_more(ws)
            ws.close()
        finally:
            thread.join(TIMEOUT)
            publisher.close()


def test_presence_across_two_processes(servers):
    one, two = servers
    group = group_name("presence")
    watcher, _ = member(one, group, recover=1)
    bob, _ = member(two, group, presence="bob")
    assert json.loads(watcher.recv()) == {
        "group": group,
        "presence": "join",
        "info": {"name": "bob"},
    }
    assert [r["info"]["name"] for r in state(one, group)["presence"]] == ["bob"]
    bob.close()
    assert json.loads(watcher.recv())["presence"] == "leave"
    assert state(one, group)["presence"] == []
    watcher.close()


def test_after_flushall_recovered_false_and_no_replay(servers, cluster_url):
    one, two = servers
    group = group_name("flush")
    since = broadcast(one, group, "seen")
    client = redis.cluster.RedisCluster.from_url(cluster_url)
    client.flushall(target_nodes=redis.cluster.RedisCluster.ALL_NODES)
    client.close()
    after = broadcast(one, group, "after the flush")
    assert parse_position(after)[0] != parse_position(since)[0]  # a new epoch
    ws, first = member(two, group, since=since)
    assert first == {"group": group, "recovered": False, "position": after}
    assert_nothing_more(ws)
    ws.close()



def owner(cluster, group):
    """The port of the master that holds ``group``'s slot."""
    client = redis.cluster.RedisCluster.from_url(cluster.url)
    try:
        return client.get_node_from_key(f"{PREFIX}{{{group}}}").port
    finally:
        client.close()


def subscribers(port, group) -> int:
    """How many connections of the node at ``port`` SSUBSCRIBEd to ``group``."""
    client = redis.Redis(port=port, socket_timeout=TIMEOUT)
    try:
        return int(client.execute_command("PUBSUB", "SHARDNUMSUB", f"{PREFIX}{{{group}}}")[1])
    except redis.RedisError:
        return 0
    finally:
        client.close()


def killed_shard(servers, cluster, label):
    """Two envelope members of a group in two processes, and one of a group
    on another shard; "before" delivered. Returns what the tests need."""
    one, two = servers
    group = group_name(label)
    port = owner(cluster, group)
    other = group_name("other")
    while owner(cluster, other) == port:
        other = group_name("other")
    members = [member(one, group, recover=1)[0], member(two, group, recover=1)[0]]
    bystander, _ = member(one, other, recover=1)
    before = broadcast(one, group, "before")
    for ws in members:
        assert json.loads(ws.recv())["position"] == before
    return group, port, other, members, bystander, before


def while_down(servers, group, other, bystander):
    """Broadcasts while the group's shard is down: each fails, and says so
    (a 500 from the view, the backend's error), rather than being lost
    quietly; the other shard's group goes on, in the same listeners."""
    for server in servers:
        with pytest.raises(urllib.error.HTTPError) as failed:
            broadcast(server, group, "while down")
        assert failed.value.code == 500
    during = broadcast(servers[1], other, "while the other is down")
    assert json.loads(bystander.recv()) == {
        "group": other, "position": during, "data": "while the other is down"}


def test_a_shard_killed_and_restarted_while_connected_nothing_lost(servers, cluster):
    one, _ = servers
    group, port, other, members, bystander, before = killed_shard(servers, cluster, "killed")
    cluster.kill(port)
    try:
        while_down(servers, group, other, bystander)
        # A message from a shard that is up, once one's listener failed on
        # the down one, is not the end of the outage: when the listener
        # failed again, it has said nothing of being back.
        failures = wait_for(lambda: one.log().count("Redis pub/sub failed"))
        during = broadcast(one, other, "still down")
        assert json.loads(bystander.recv())["position"] == during
        wait_for(lambda: one.log().count("Redis pub/sub failed") > failures)
        assert "Redis pub/sub is back" not in one.log()
    finally:
        cluster.start(port)  # same port, folder, nodes.conf (id, slots) and AOF
    # As soon as the shard takes writes again.
    positions = broadcast_when_up(one, group, [f"after {n}" for n in range(5)])
    # The stream survived the SIGKILL: the same epoch, and the offsets go on
    # right after "before" (the failed broadcasts wrote nothing).
    epoch, offset = parse_position(before)
    assert [parse_position(p) for p in positions] == [(epoch, offset + n) for n in range(1, 6)]
    # Both processes' listeners subscribed again on the restarted node.
    wait_for(lambda: subscribers(port, group) == 2, timeout=3 * TIMEOUT)
    wait_for(cluster.ok, timeout=3 * TIMEOUT)
    for server in servers:  # and now they say so
        wait_for(lambda server=server: "Redis pub/sub is back" in server.log())
    for ws in members:
        ws.settimeout(3 * TIMEOUT)  # the listener's back-off is at most 5 s
        seen: dict[str, dict] = {}
        while len(seen) < 5:
            envelope = json.loads(ws.recv())
            assert "recovered" not in envelope, envelope  # recovered, not given up
            seen.setdefault(envelope["position"], envelope)  # the client's de-duplication
        assert list(seen.values()) == [
            {"group": group, "position": p, "data": f"after {n}"} for n, p in enumerate(positions)
        ]
        ws.settimeout(TIMEOUT)
        assert_nothing_more(ws)
        ws.close()
    bystander.close()


def test_a_shard_restarted_without_its_data_recovered_false_and_no_replay(servers, cluster):
    one, two = servers
    group, port, other, members, bystander, before = killed_shard(servers, cluster, "amnesia")
    cluster.kill(port)
    try:
        while_down(servers, group, other, bystander)
        cluster.forget_data(port)
    finally:
        cluster.start(port)  # nodes.conf kept (id, slots), the AOF gone: an empty shard
    wait_for(cluster.ok, timeout=3 * TIMEOUT)
    # Subscribed again, each listener reads the history from the member's
    # last position: the stream is gone, so each member is told, without a
    # replay of "before".
    for ws in members:
        ws.settimeout(3 * TIMEOUT)  # the listener's back-off is at most 5 s
        first = json.loads(ws.recv())
        assert first["group"] == group and first["recovered"] is False, first
        assert parse_position(first["position"])[0] != parse_position(before)[0]  # a new epoch
        ws.settimeout(TIMEOUT)
    wait_for(lambda: subscribers(port, group) == 2, timeout=3 * TIMEOUT)
    after = broadcast(two, group, "after")
    for ws in members:
        assert json.loads(ws.recv()) == {"group": group, "position": after, "data": "after"}
        assert_nothing_more(ws)
        ws.close()
    bystander.close()


def test_a_join_with_latest_gets_the_newest_message_across_processes(servers):
    one, two = servers
    assert_latest_comes_first(one, two, group_name("prices"))
