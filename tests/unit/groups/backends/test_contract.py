"""One contract, run over every groups backend, against live servers.

Each backend is exercised the way an application uses it: WebSocket views
join groups, a plain HTTP view (and, for Redis, another process) broadcasts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest
import websocket

from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT

MEMORY = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}


def redis_groups(url):
    return {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                        "OPTIONS": {"url": url, "prefix": "test:"}}}


@pytest.fixture(params=["memory", "redis"])
def groups_config(request):
    if request.param == "memory":
        return MEMORY
    return redis_groups(request.getfixturevalue("redis_url"))


@pytest.fixture
def server(groups_config, live_db):
    with LiveServer(settings_module="tests.settings",
                    settings={"WEBSOCKET_GROUPS": groups_config},
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


def join(server, group):
    ws = connect(server, f"/group/{group}/member/")
    assert ws.recv() == "joined"
    return ws


def broadcast(server, group, **query):
    url = server.http_url(f"/group/{group}/broadcast/?{urllib.parse.urlencode(query)}")
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return json.load(response)


def test_broadcast_reaches_every_member_once(server):
    members = [join(server, "room") for _ in range(5)]
    outsider = join(server, "other")
    assert broadcast(server, "room", message="hello")["local_members"] == 5
    for ws in members:
        assert ws.recv() == "hello"
        ws.send("ping")
        assert ws.recv() == "echo:ping"  # nothing else came in between
    outsider.send("ping")
    assert outsider.recv() == "echo:ping"  # the outsider got nothing


def test_message_kinds(server):
    ws = join(server, "kinds")
    broadcast(server, "kinds", json='{"a": [1, 2]}')
    assert json.loads(ws.recv()) == {"a": [1, 2]}
    broadcast(server, "kinds", binary="raw")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"raw")


def test_a_join_with_latest_gets_the_newest_message_first(server):
    ws = join(server, "empty-latest")  # nothing kept yet: nothing first
    for message in ("old", "newest"):
        broadcast(server, "prices", message=message)
    broadcast(server, "prices", json='{"price": 3}')
    latecomer = connect(server, "/group/prices/member/?latest=1")
    assert json.loads(latecomer.recv()) == {"price": 3}  # before "joined": right after the join
    assert latecomer.recv() == "joined"
    broadcast(server, "prices", message="live")
    assert latecomer.recv() == "live"
    nothing = connect(server, "/group/never-published/member/?latest=1")
    assert nothing.recv() == "joined"
    for client in (ws, latecomer, nothing):
        client.close()


def test_order_per_sender(server):
    ws = join(server, "ordered")
    for n in range(50):
        broadcast(server, "ordered", message=str(n))
    assert [ws.recv() for _ in range(50)] == [str(n) for n in range(50)]


def test_leave_and_close_remove_members(server):
    staying, leaving, closing = (join(server, "g") for _ in range(3))
    leaving.send("leave")
    assert leaving.recv() == "left"
    closing.close()
    # The closed connection leaves on its own; wait for it by broadcasting
    # until only the staying member counts.
    for _ in range(200):
        if broadcast(server, "g", message="tick")["local_members"] == 1:
            break
    else:
        pytest.fail("the closed member never left")
    assert staying.recv() == "tick"
    leaving.send("ping")
    assert leaving.recv() == "echo:ping"  # no tick for the member that left


def test_compressed_and_plain_members_both_receive(server):
    from websockets.sync.client import connect as ws_connect

    plain = join(server, "mixed")
    with ws_connect(server.ws_url("/group/mixed/member/"), open_timeout=TIMEOUT) as deflate:
        assert deflate.protocol.extensions  # permessage-deflate member
        assert deflate.recv(timeout=TIMEOUT) == "joined"
        broadcast(server, "mixed", message="both " * 100)
        assert deflate.recv(timeout=TIMEOUT) == "both " * 100
    assert plain.recv() == "both " * 100


def test_slow_member_does_not_hold_up_the_others(server_factory, groups_config):
    live = server_factory(WEBSOCKET_GROUPS=groups_config, WEBSOCKET_MAX_SEND_BUFFER=256 * 1024)
    slow = join(live, "busy")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never reads
    fast = join(live, "busy")
    payload = "p" * 60_000
    # 12 MB in all: more than the kernel buffers on both sides plus the slow
    # member's 256 KiB allowance. The fast member reads each one.
    for _ in range(200):
        broadcast(live, "busy", message="p", repeat=60_000)
        assert fast.recv() == payload
    live.wait_for_log("dropped slow WebSocket client")


@pytest.mark.parametrize("groups_config", ["redis"], indirect=True)
def test_redis_two_servers_and_a_third_process(groups_config, redis_url, live_db):
    settings = {"WEBSOCKET_GROUPS": redis_groups(redis_url)}
    env = {"DJANGO_WS_TEST_DB": live_db}
    with LiveServer(settings_module="tests.settings", settings=settings, env=env) as one, \
            LiveServer(settings_module="tests.settings", settings=settings, env=env) as two:
        clients = [join(one, "everyone") for _ in range(3)] + [join(two, "everyone")
                                                               for _ in range(3)]
        # A broadcast from a process that is no server: a management shell.
        code = (
            "from django_ws.groups import broadcast; "
            "[broadcast('everyone', f'news {n}') for n in range(3)]"
        )
        subprocess.run(
            [sys.executable, "-m", "django", "shell", "-c", code],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.redis_settings",
                 "DJANGO_WS_TEST_REDIS": redis_url},
            check=True, timeout=60,
        )
        for ws in clients:
            assert [ws.recv() for _ in range(3)] == ["news 0", "news 1", "news 2"]
            ws.send("ping")
            assert ws.recv() == "echo:ping"  # exactly once: nothing more came
