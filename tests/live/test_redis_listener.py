"""Joins and leaves while the Redis listener reads, on one Redis and on a cluster.

The listener owns the pub/sub connection (``groups/redis_listener.py``). These
tests fail without that, and not by timing luck: redis-py's cluster poll held
its per-node lock for the whole of its wait and took it again at once, so the
greenlet of a leave (SUNSUBSCRIBE) waited behind it for ever, the listener
holding the lock whenever the leaving greenlet could run. The server's
listener here waits an hour for its next read (``IDLE_WAIT``, through
``tests/settings.py``) unless a join or a leave wakes it: a step left waiting
for the listener's next read would hang the test, not slow it.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT

PREFIX = "listener:"
LONG_WAIT = {"DJANGO_WS_TEST_LISTENER_IDLE_WAIT": "3600"}


@pytest.fixture(params=["redis", "cluster"])
def server(request, live_db):
    if request.param == "cluster":
        options = {"url": request.getfixturevalue("cluster_url"), "cluster": True}
    else:
        options = {"url": request.getfixturevalue("redis_url")}
    groups = {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                          "OPTIONS": {**options, "prefix": PREFIX, "subscribe_timeout": TIMEOUT}}}
    with LiveServer(settings_module="tests.settings", settings={"WEBSOCKET_GROUPS": groups},
                    env={"DJANGO_WS_TEST_DB": live_db, **LONG_WAIT}) as live:
        yield live


def join(server, group):
    ws = connect(server, f"/group/{group}/member/")
    assert ws.recv() == "joined"
    return ws


def leave(ws):
    ws.send("leave")
    assert ws.recv() == "left"


def broadcast(server, group, message) -> int:
    query = urllib.parse.urlencode({"message": message})
    with urllib.request.urlopen(server.http_url(f"/group/{group}/broadcast/?{query}"),
                                timeout=TIMEOUT) as response:
        return response.status


def test_the_last_member_leaves_and_a_new_one_joins_again(server):
    """Each leave unsubscribes, each join subscribes again: the same group,
    one process, the listener idle in between."""
    for round_ in range(3):
        ws = join(server, "room")
        assert broadcast(server, "room", f"round {round_}") == 200
        assert ws.recv() == f"round {round_}"
        leave(ws)  # the group's last member: UNSUBSCRIBE
        ws.send("still here")
        assert ws.recv() == "echo:still here"
        ws.close()


def test_joins_and_leaves_of_one_group_interleaved(server):
    """Members come and go while others stay and messages flow."""
    stayer = join(server, "busy")
    others = [join(server, "busy") for _ in range(4)]
    for n, ws in enumerate(others):
        leave(ws)
        assert broadcast(server, "busy", f"after leave {n}") == 200
        for still in [stayer, *others[n + 1:]]:
            assert still.recv() == f"after leave {n}"
    leave(stayer)  # the last one: UNSUBSCRIBE
    again = [join(server, "busy") for _ in range(2)]  # SUBSCRIBE again
    assert broadcast(server, "busy", "back") == 200
    for ws in again:
        assert ws.recv() == "back"
    for ws in [stayer, *others, *again]:
        ws.close()


def test_groups_on_every_shard_at_once(server):
    """Several groups (on a cluster, on several shards) joined and left in turn."""
    names = [f"shard-{n}" for n in range(6)]
    members = {name: join(server, name) for name in names}
    for name in names:
        assert broadcast(server, name, name) == 200
        assert members[name].recv() == name
    for name in names[::2]:
        leave(members[name])
    for name in names[1::2]:
        assert broadcast(server, name, f"{name} again") == 200
        assert members[name].recv() == f"{name} again"
    for name in names[::2]:
        members[name].close()
        members[name] = join(server, name)
        assert broadcast(server, name, f"{name} rejoined") == 200
        assert members[name].recv() == f"{name} rejoined"
    for ws in members.values():
        ws.close()
