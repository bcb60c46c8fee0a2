"""Detached class views: the request ends after open(), callbacks serve the rest."""

from __future__ import annotations

import json
import urllib.request
import uuid

from tests.support.auth import probe
from tests.support.clients import RawClient, client_frame, connect, receive_close
from tests.support.timing import TIMEOUT, wait_for

PING, PONG = 9, 10


def counts(server):
    with urllib.request.urlopen(server.http_url("/debug/greenlets/"), timeout=TIMEOUT) as r:
        return json.load(r)


def test_idle_detached_connections_hold_no_greenlet(server):
    baseline = counts(server)
    detached = [connect(server, "/detached/") for _ in range(30)]
    for ws in detached:
        ws.send("hi")
        assert ws.recv() == "hi"
    # Short-lived dispatching greenlets may not be collected yet: a margin.
    after_detached = wait_for(lambda: (c := counts(server))["greenlets"]
                              <= baseline["greenlets"] + 5 and c)
    assert after_detached["open"] == baseline["open"] + 30
    attached = [connect(server, "/attached/") for _ in range(30)]
    for ws in attached:
        ws.send("hi")
        assert ws.recv() == "hi"
    # The same view kept attached: a greenlet per connection.
    assert counts(server)["greenlets"] >= after_detached["greenlets"] + 30
    for ws in detached + attached:
        ws.close()
    wait_for(lambda: (c := counts(server))["open"] == baseline["open"]
             and c["websockets"] <= baseline["websockets"])


def test_messages_reach_on_message_in_order(server):
    ws = connect(server, "/detached/")
    messages = [f"message {n}" for n in range(300)]
    for message in messages:  # many arrive in one read, some across reads
        ws.send(message)
    assert [ws.recv() for _ in messages] == messages
    ws.send_binary(b"\x00\xff")
    assert ws.recv() == b"\x00\xff"
    ws.close()


def test_a_blocking_handler_holds_up_its_own_connection_only(server):
    waiting, other = connect(server, "/detached/"), connect(server, "/detached/")
    waiting.send("wait")  # its on_message blocks until another connection releases it
    assert waiting.recv() == "waiting"
    waiting.send("after")  # queued behind it: order is kept
    other.send("release")
    assert other.recv() == "release"  # served while the first handler blocks
    assert [waiting.recv(), waiting.recv()] == ["wait", "after"]
    waiting.close()
    other.close()


def test_on_close_runs_once_with_the_close_code(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/detached/?key={key}")
    ws.send("one")
    assert ws.recv() == "one"
    ws.close(status=4001)
    assert wait_for(lambda: probe(server, key)) == {"code": 4001, "in": 1}


def test_vanished_client_ends_the_connection(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/detached/?key={key}")
    ws.send("one")
    assert ws.recv() == "one"
    ws.sock.close()  # no close frame
    assert wait_for(lambda: probe(server, key)) == {"code": 1006, "in": 1}


def test_error_in_on_message_closes_1011_and_is_logged(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/detached/?key={key}")
    ws.send("raise")
    assert receive_close(ws)[0] == 1011
    assert wait_for(lambda: probe(server, key)) == {"code": 1011, "in": 1}
    # "key" is credential-like: the log line redacts its value, and names the peer.
    server.wait_for_log(r"error in on_message of WebSocket /detached/\?key=\[redacted\] "
                        r"from 127\.0\.0\.1:\d+")
    assert "on_message failed on purpose" in server.log()
    ws = connect(server, "/detached/")  # the server goes on
    ws.send("still there")
    assert ws.recv() == "still there"
    ws.close()


def test_log_line_is_written_when_the_connection_ends(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/detached/?key={key}")
    ws.send("a")
    ws.recv()
    ws.close()
    server.wait_for_log(rf'"GET /detached/\?key={key} HTTP/1.1" 101 .* websocket \d+\.\d+s '
                        r"user=anonymous close=1000 by=client in=1 out=1")


def test_idle_detached_connection_answers_pings(server):
    client = RawClient(server, "/detached/")
    client.send(client_frame(PING, b"are you there"))
    assert client.recv_frame() == (PONG, b"are you there")
    client.close()

