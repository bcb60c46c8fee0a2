"""dwebsocket habits that froze the whole server, run through the compat layer.

dwebsocket's views ran on threads (runserver, uWSGI): a loop that polls
without waiting cost one thread. Here every connection of the process shares
one event loop, so the compat layer's polls let it run, and a view that
polls a connection closed long ago is ended (issue 22, item 4).
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT, wait_for


@pytest.fixture(scope="module")
def server(live_db):
    with LiveServer(settings_module="tests.settings",
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


def probe(server, key):
    with urllib.request.urlopen(server.http_url(f"/probe/{key}/"), timeout=TIMEOUT) as response:
        return json.load(response)["value"]


@pytest.mark.parametrize("path", ["/compat-poll/", "/compat-poll-threaded/"])
def test_a_read_poll_with_thread_pushes_leaves_the_server_serving(server, path):
    """Deeptrain's monitor: ``while not ws.is_closed(): m = ws.read()`` and
    pushes from a thread. On the compat layer, on a greenlet or in thread
    mode: the pushes arrive, an HTTP request is answered meanwhile, and the
    view ends with the client."""
    key = uuid.uuid4().hex
    ws = connect(server, f"{path}?key={key}")
    ticks = [ws.recv() for _ in range(3)]
    assert ticks == ["tick 0", "tick 1", "tick 2"]
    ws.send("hello")
    while (message := ws.recv()) != "got hello":
        assert message.startswith("tick")
    assert probe(server, "nothing") is None  # plain HTTP, answered while the poll runs
    ws.close()
    assert wait_for(lambda: probe(server, key)) == "ended"


def test_a_wait_loop_after_the_client_left_is_ended_and_the_cpu_falls_back(server):
    """flask-sock's ``while True: data = ws.wait(); ws.send(data)``: once the
    client left, wait() returns None for ever. The view is ended, with one
    WARNING naming it, and its loop turns no more (it burnt a CPU)."""
    start = len(server.log())  # the module's server: only this test's lines
    ws = connect(server, "/compat-forever/")
    ws.send("echo me")
    assert ws.recv() == "echo me"
    ws.close()
    assert probe(server, "meanwhile") is None  # served while the loop polls
    wait_for(lambda: "ended the view tests.views.blocking.compat_forever" in server.log()[start:],
             timeout=3 * TIMEOUT)
    assert server.log()[start:].count("ended the view tests.views.blocking.compat_forever") == 1
    assert "Traceback" not in server.log()[start:]
    turns = probe(server, "compat-forever")
    assert probe(server, "meanwhile") is None  # the loop had its chances to run
    assert probe(server, "compat-forever") == turns  # ended: no more turns
