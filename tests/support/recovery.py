"""The envelope members, broadcasts and reads of the recovery tests (on Redis
and on Redis Cluster): the test project's group views over HTTP and WebSocket."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from django_ws.groups.envelopes import parse_position
from tests.support.clients import connect
from tests.support.timing import TIMEOUT, UNIT, wait_for

PREFIX = "recovery:"


def member(server, group, **query):
    """An envelope member; returns (ws, first envelope)."""
    ws = connect(server, f"/group/{group}/envelope/?{urllib.parse.urlencode(query)}")
    first = json.loads(ws.recv())
    assert first["group"] == group and "recovered" in first
    return ws, first


def broadcast(server, group, message):
    query = urllib.parse.urlencode({"message": message})
    url = server.http_url(f"/group/{group}/broadcast/?{query}")
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return json.load(response)["position"]


def state(server, group):
    with urllib.request.urlopen(
        server.http_url(f"/group/{group}/state/"), timeout=TIMEOUT
    ) as response:
        return json.load(response)


def receive(ws, n):
    return [json.loads(ws.recv()) for _ in range(n)]


def assert_nothing_more(ws):
    ws.send("ping")
    assert ws.recv() == "echo:ping"


def broadcast_when_up(server, group, messages, timeout=3 * TIMEOUT):
    """Broadcast ``messages`` in order, each as soon as Redis takes it (the
    view answers 500 while it cannot); returns their positions."""
    positions = []

    def next_one():
        try:
            positions.append(broadcast(server, group, messages[len(positions)]))
        except urllib.error.HTTPError:
            pass
        return len(positions) == len(messages)

    wait_for(next_one, timeout=timeout, interval=0.05 * UNIT)
    return positions


def read_until(ws, last, at_most):
    """The envelopes' data by offset, de-duplicated as the client does, up to
    the one whose data is ``last``, within ``at_most`` envelopes."""
    seen: dict[int, str] = {}
    for _ in range(at_most):
        envelope = json.loads(ws.recv())
        seen.setdefault(parse_position(envelope["position"])[1], envelope["data"])
        if envelope["data"] == last:
            return seen
    raise AssertionError(f"no {last!r} in {at_most} envelopes: {seen}")


def assert_latest_comes_first(publisher, joiner, group):
    """join(latest=True) on ``joiner``: the newest message, after the first envelope."""
    for n in range(3):
        newest = broadcast(publisher, group, f"price {n}")
    ws, first = member(joiner, group, recover=1, latest=1)
    assert first == {"group": group, "recovered": False, "position": newest}
    assert json.loads(ws.recv()) == {"group": group, "position": newest, "data": "price 2",
                                     "latest": True}
    live = broadcast(publisher, group, "price 3")
    assert json.loads(ws.recv()) == {"group": group, "position": live, "data": "price 3"}
    ws.close()
