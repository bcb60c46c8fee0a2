"""Redis is shared: what another project publishes never reaches our clients.

Redis pub/sub ignores the database number, so two projects on ``/0`` and
``/1`` of one server, with the default prefix, shared every channel: each
received the other's broadcasts and presence. The channels carry the
database number now; and whatever else arrives on a channel (a client of the
same Redis publishing by hand) reaches no client unless it has the shape our
broadcasts have.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
import redis

from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT, wait_for


def groups(url):
    return {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                        "OPTIONS": {"url": url, "subscribe_timeout": TIMEOUT}}}  # default prefix


def on_db(redis_url, db):
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def two_projects(redis_url, live_db):
    env = {"DJANGO_WS_TEST_DB": live_db}
    with (
        LiveServer(settings_module="tests.settings",
                   settings={"WEBSOCKET_GROUPS": groups(on_db(redis_url, 0))}, env=env) as zero,
        LiveServer(settings_module="tests.settings",
                   settings={"WEBSOCKET_GROUPS": groups(on_db(redis_url, 1))}, env=env) as one,
    ):
        yield zero, one


def member(server, group):
    ws = connect(server, f"/group/{group}/member/")
    assert ws.recv() == "joined"
    return ws


def envelope_member(server, group, name):
    """An envelope member with presence; its state envelope and its own join read."""
    query = urllib.parse.urlencode({"presence": name})
    ws = connect(server, f"/group/{group}/envelope/?{query}")
    assert json.loads(ws.recv())["group"] == group
    assert json.loads(ws.recv()) == {"group": group, "presence": "join", "info": {"name": name}}
    return ws


def broadcast(server, group, message):
    query = urllib.parse.urlencode({"message": message})
    with urllib.request.urlopen(server.http_url(f"/group/{group}/broadcast/?{query}"),
                                timeout=TIMEOUT) as response:
        return response.status


def assert_nothing_more(ws):
    ws.send("ping")
    assert ws.recv() == "echo:ping"


def test_two_projects_on_two_databases_share_nothing(two_projects):
    zero, one = two_projects
    ours, theirs = member(zero, "room"), member(one, "room")
    assert broadcast(zero, "room", "for project zero") == 200
    assert ours.recv() == "for project zero"
    assert_nothing_more(theirs)
    assert broadcast(one, "room", "for project one") == 200
    assert theirs.recv() == "for project one"
    assert_nothing_more(ours)
    ours.close()
    theirs.close()


def test_presence_stays_in_its_database(two_projects):
    zero, one = two_projects
    watcher = envelope_member(zero, "lobby", "zero")
    other = envelope_member(one, "lobby", "one")  # joins with presence on database 1
    watcher.send("ping")
    assert watcher.recv() == "echo:ping"  # no presence envelope from project one
    other.close()
    assert_nothing_more(watcher)
    watcher.close()


@pytest.mark.parametrize("payload", [
    b"",
    b"hello, no kind byte",
    b"\xff\xfe",
    b"t\xff\xfe not UTF-8",
    b"j\xc3\x28",
    b"@not a position\ntx",
    b"@e-1\n",
    b"!{\"group\": \"elsewhere\", \"presence\": \"join\", \"info\": {}}",
    b"!" + b"[" * 3000,
    b"!\xff",
])
def test_a_message_we_did_not_publish_reaches_no_client(redis_url, live_db, payload):
    url = on_db(redis_url, 2)
    with LiveServer(settings_module="tests.settings", settings={"WEBSOCKET_GROUPS": groups(url)},
                    env={"DJANGO_WS_TEST_DB": live_db}) as server:
        ws = member(server, "room")
        client = redis.Redis.from_url(url, socket_timeout=TIMEOUT)
        try:
            assert client.publish("django_ws:db2:room", payload) == 1  # our listener got it
            client.publish("django_ws:db2:room", payload)
        finally:
            client.close()
        assert_nothing_more(ws)
        assert broadcast(server, "room", "still delivered") == 200
        assert ws.recv() == "still delivered"
        wait_for(lambda: "that django_ws did not publish" in server.log())
        assert server.log().count("that django_ws did not publish") == 1  # once per channel
        assert "Traceback" not in server.log()
        ws.close()
