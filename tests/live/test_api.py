"""The classic API, against a real runws server and websocket-client."""

from __future__ import annotations

import json
import select
import urllib.error
import urllib.request
import uuid
from array import array

import gevent  # noqa: F401  (the views use it; importing here checks it installs)
import pytest
import websocket

from tests.support.clients import RawClient, client_frame, connect, handshake, receive_close
from tests.support.net import raw_request
from tests.support.timing import TIMEOUT, wait_for


def probe(server, key):
    with urllib.request.urlopen(server.http_url(f"/probe/{key}/"), timeout=TIMEOUT) as response:
        return json.load(response)["value"]


def http_get(server, path, headers=None):
    request = urllib.request.Request(server.http_url(path), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def handshake_status(server, path, **options):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, path, **options)
    return info.value.status_code, info.value.resp_body


# -- messages ----------------------------------------------------------------


def test_echo_text_and_binary(server):
    ws = connect(server, "/echo/")
    ws.send("héllo")
    assert ws.recv() == "héllo"
    ws.send_binary(b"\x00\xff")
    opcode, data = ws.recv_data()
    assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, b"\x00\xff")
    ws.close()


def test_send_kinds_and_received_types(server):
    ws = connect(server, "/kinds/")
    frames = [ws.recv_data() for _ in range(10)]
    text, binary = websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY
    assert frames == [
        (text, b"text"),
        (binary, b"\x00binary"),
        (binary, b"ba"),
        (binary, b"mv"),
        (binary, array("i", [1, 2]).tobytes()),
        (binary, bytes(range(256)) * 300),
        (text, b'{"a": 1}'),
        (text, b'[1, "two"]'),
        (binary, b"forced"),
        (text, frames[9][1]),
    ]
    assert frames[9][1].startswith(b"TypeError: cannot send 'int'")
    ws.send("a text")
    ws.send_binary(b"some bytes")
    assert json.loads(ws.recv()) == ["str", "bytes"]
    ws.close()


def test_read_count_has_messages_while_view_sleeps(server):
    ws = connect(server, "/queue/?sleep=0.5")
    assert ws.recv() == "ready"
    for n in range(3):
        ws.send(f"m{n}")
    report = json.loads(ws.recv())
    assert report == {
        "count": 3, "has": True, "read": ["m0", "m1", "m2", None], "has_after": False,
    }
    ws.close()


def test_wait_returns_none_after_client_closes(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/wait-until-closed/?key={key}")
    ws.send("one")
    ws.send("two")
    ws.close()
    seen = wait_for(lambda: probe(server, key))
    assert seen == {"seen": ["one", "two"], "closed": True, "code": 1000}


def test_iteration_ends_quietly_without_none(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/iterate/?key={key}")
    ws.send("a")
    ws.send_binary(b"b")
    ws.close()
    assert wait_for(lambda: probe(server, key)) == {"seen": ["'a'", "b'b'"], "none_seen": False}


def test_iteration_ends_when_client_vanishes(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/iterate/?key={key}")
    ws.send("a")
    ws.sock.close()  # no close frame: the TCP connection just ends
    assert wait_for(lambda: probe(server, key)) == {"seen": ["'a'"], "none_seen": False}


def test_wait_timeout_raises_timeout_error(server):
    ws = connect(server, "/wait-timeout/")
    assert ws.recv() == "timed out"
    ws.close()


# -- lazy accept: a real HTTP status before any 101 ----------------------------


@pytest.mark.parametrize("status", [403, 404, 418])
def test_view_answers_in_http_before_accepting(server, status):
    assert handshake_status(server, f"/refuse/{status}/")[0] == status


def test_exception_before_accept_is_a_500(server):
    assert handshake_status(server, "/crash-before-accept/")[0] == 500


def test_a_client_that_sends_and_closes_at_once_is_no_error_of_the_view(server):
    """The README's echo: the view takes "hello", queued with the client's
    close frame; its send() finds the connection closing. The client left:
    an INFO line, not Django's "Internal Server Error" with a traceback."""
    start = len(server.log())  # the module's server: only this test's lines
    client = RawClient(server, "/echo/")
    client.send(client_frame(1, b"hello") + client_frame(8, b"\x03\xe8"))  # one segment
    assert client.recv_close_code() == 1000
    client.close()
    wait_for(lambda: "the view stopped at ConnectionClosed('WebSocket connection is closed "
                     "(code=1000)')" in server.log()[start:])
    assert "Internal Server Error" not in server.log()[start:]
    assert "Traceback" not in server.log()[start:]


def test_cross_origin_handshake_is_refused(server):
    status, body = handshake_status(server, "/echo/", origin="http://evil.example")
    assert status == 403
    assert b"WEBSOCKET_ALLOWED_ORIGINS" in body


@pytest.mark.parametrize("scheme_or_port", ["https://127.0.0.1:{port}", "http://127.0.0.1:1",
                                            "http://127.0.0.1", "ws://127.0.0.1:{port}",
                                            "http://127.0.0.1:{port}x"])
def test_an_origin_on_another_scheme_or_port_is_refused(server, scheme_or_port):
    # RFC 6454: an origin is a scheme, a host and a port. A page on
    # http://site is no page of https://site (and the other way round).
    origin = scheme_or_port.format(port=server.port)
    status, body = handshake_status(server, "/echo/", origin=origin)
    assert status == 403
    wait_for(lambda: f"(origin {origin!r} is not the site's own" in server.log())


def test_same_origin_and_no_origin_are_allowed(server):
    for options in ({"origin": server.http_url("").rstrip("/")}, {"suppress_origin": True}):
        ws = connect(server, "/echo/", **options)
        ws.send("ok")
        assert ws.recv() == "ok"
        ws.close()


def test_allowed_origins_setting(server_factory):
    live = server_factory(WEBSOCKET_ALLOWED_ORIGINS=["https://app.example.com"])
    ws = connect(live, "/echo/", origin="https://app.example.com")
    ws.close()
    assert handshake_status(live, "/echo/", origin="https://other.example.com")[0] == 403


def test_undecorated_view_is_refused(server):
    status, body = handshake_status(server, "/undecorated/")
    assert status == 400
    assert b"accept_websocket" in body and b"WEBSOCKET_ACCEPT_ALL" in body


def test_accept_all_lets_undecorated_views_in(server_factory):
    live = server_factory(WEBSOCKET_ACCEPT_ALL=True)
    ws = connect(live, "/undecorated/")
    assert ws.recv() == "undecorated"
    assert receive_close(ws)[0] == 1000


def test_plain_http(server):
    assert http_get(server, "/echo/") == (200, "echo page")
    assert http_get(server, "/only-ws/")[0] == 400
    assert http_get(server, "/undecorated/") == (200, "plain page")


# -- closing -------------------------------------------------------------------


def test_view_returning_closes_with_1000(server):
    ws = connect(server, "/returns/")
    assert ws.recv() == "bye"
    assert receive_close(ws) == (1000, "")


def test_view_raising_closes_with_1011(server):
    ws = connect(server, "/crash/")
    assert ws.recv() == "about to fail"
    assert receive_close(ws)[0] == 1011
    server.wait_for_log("boom \\(expected by the test\\)")


def test_close_code_and_send_after_close(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/close-with/?code=4001&key={key}")
    assert receive_close(ws) == (4001, "bye")
    assert wait_for(lambda: probe(server, key)) == {"code": 4001, "closed": True}


def test_connection_log_line(server):
    ws = connect(server, "/returns/")
    ws.recv()
    receive_close(ws)
    line = server.wait_for_log(r'"GET /returns/ HTTP/1.1" 101 .* websocket .* close=1000 by=server')
    assert "out=1" in line.string


# -- concurrency ---------------------------------------------------------------


def test_concurrent_sends_never_interleave(server):
    ws = connect(server, "/concurrent-senders/")
    counts = {}
    while (message := ws.recv()) != "done":
        sender, index, payload = message.split(":")
        assert payload == "x" * 3000
        assert int(index) == counts.get(sender, 0)  # in order per sender
        counts[sender] = int(index) + 1
    assert counts == {str(n): 200 for n in range(8)}
    ws.close()


def test_sleeping_view_does_not_block_others(server):
    sleeper = connect(server, "/sleepy/?sleep=2")
    other = connect(server, "/echo/")
    other.send("still served")
    assert other.recv() == "still served"
    # The sleeper has not woken yet: its view is blocked in time.sleep(),
    # and the echo above was served meanwhile.
    readable, _, _ = select.select([sleeper.sock], [], [], 0)
    assert readable == []  # nothing sent yet, and the connection is not closed either
    assert sleeper.recv() == "woke"
    sleeper.close()
    other.close()


def test_200_concurrent_connections(server):
    sockets = [connect(server, "/echo/") for _ in range(200)]
    for n, ws in enumerate(sockets):
        ws.send(f"#{n}")
    assert [ws.recv() for ws in sockets] == [f"#{n}" for n in range(200)]
    for ws in sockets:
        ws.close()


def test_orm_in_websocket_view(server):
    ws = connect(server, "/orm/")
    tag = uuid.uuid4().hex
    ws.send(tag)
    assert ws.recv() == "1"
    ws.send(tag)
    assert ws.recv() == "2"
    ws.close()


# -- subprotocols and request data -----------------------------------------


def test_decorator_subprotocols(server):
    ws = connect(server, "/subprotocol/", subprotocols=["chat.v1", "chat.v2"])
    assert ws.recv() == "chat.v2"  # the server's order of preference
    assert ws.getsubprotocol() == "chat.v2"
    ws.close()


def test_no_common_subprotocol_means_no_header(server):
    # RFC 6455 4.2.2: a server that agrees to none sends no
    # Sec-WebSocket-Protocol (websocket-client would refuse that, so raw).
    status, headers, body = raw_request(
        server, handshake("/subprotocol/", extra=["Sec-WebSocket-Protocol: other"]),
        read_until_close=False,
    )
    assert status == 101
    assert "sec-websocket-protocol" not in headers


def test_accept_with_subprotocol(server):
    ws = connect(server, "/explicit-subprotocol/", subprotocols=["a", "b"])
    assert ws.recv() == "b|a,b"
    assert ws.getsubprotocol() == "b"
    ws.close()


def test_request_attributes(server):
    ws = connect(server, "/info/?x=1", suppress_origin=True)
    assert json.loads(ws.recv()) == {
        "path": "/info/?x=1", "origin": None, "user": "AnonymousUser", "method": "GET",
    }
    ws.close()


# -- dwebsocket's names in the native API ------------------------------------------


def test_is_closed_read_fallback_and_bytes_close_reason(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/dwebsocket-additions/?key={key}")
    assert receive_close(ws) == (4002, "bytes réason")
    assert wait_for(lambda: probe(server, key)) == {
        "closed_before": False, "fallback": "fb", "none": None, "closed_after": True,
    }


def test_middleware_honours_the_accept_websocket_attribute(server):
    ws = connect(server, "/flagged/")
    assert ws.recv() == "flagged"
    assert receive_close(ws)[0] == 1000


def test_a_connection_does_not_keep_the_url_patterns_tried_before_its_own(server):
    # Django lists them in request.resolver_match for its 404 page, about 80
    # bytes each, and a waiting view keeps its request for the connection's
    # life: the last of these patterns cost each connection 5 KiB.
    from tests.urls import urlpatterns

    assert len(urlpatterns) > 50
    ws = connect(server, "/resolver-tried/")
    assert ws.recv() == "0"
    ws.close()
