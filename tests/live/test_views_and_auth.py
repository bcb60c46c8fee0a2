"""Class views (Tornado's hooks), auth at the handshake, sessions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
import websocket

from tests.support.auth import login, probe, status_of
from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT, wait_for


def test_class_view_lifecycle(server):
    key = uuid.uuid4().hex
    ws = connect(server, f"/chat/?key={key}", subprotocols=["chat.v1", "chat.v2"])
    assert ws.getsubprotocol() == "chat.v2"
    assert json.loads(ws.recv()) == {"hello": "AnonymousUser", "subprotocol": "chat.v2"}
    ws.send("abc")
    assert ws.recv() == "ABC"
    ws.send_binary(b"\x01")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"\x01")
    ws.send("bye")
    assert receive_close(ws) == (4000, "bye")
    assert wait_for(lambda: probe(server, key)) == {"received": ["abc", "bye"], "code": 4000}


def test_class_view_options_and_plain_get(server):
    ws = connect(server, "/chat/")
    ws.recv()
    ws.send("x" * 1001)  # websocket_options: max_message_size=1000
    assert receive_close(ws)[0] == 1009
    with urllib.request.urlopen(server.http_url("/chat/"), timeout=TIMEOUT) as r:
        assert r.read() == b"chat page"


def test_class_view_open_refuses_before_101(server):
    assert status_of(server, "/chat/?refuse=1") == 403


def test_class_view_check_origin(server):
    assert status_of(server, "/picky-origin/", origin="https://evil.example") == 403
    ws = connect(server, "/picky-origin/", origin="https://trusted.example")
    assert ws.recv() == "welcome"
    ws.close()
    # No Origin (no browser): check_origin is not asked, as in Tornado.
    ws = connect(server, "/picky-origin/", suppress_origin=True)
    assert ws.recv() == "welcome"
    ws.close()


def test_login_required_gives_401_not_a_redirect(server):
    assert status_of(server, "/private/") == 401

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(server.http_url("/private/"), timeout=TIMEOUT)
    assert info.value.code == 302  # plain HTTP: Django's redirect to the login page
    assert "/accounts/login/" in info.value.headers["Location"]


def test_session_cookie_authenticates_the_websocket(server):
    session = login(server, "alice")
    ws = connect(server, "/private/", cookie=session)
    assert ws.recv() == "hello alice"
    receive_close(ws)


def test_permission_required(server):
    assert status_of(server, "/staff-only/") == 401
    assert status_of(server, "/staff-only/", cookie=login(server, "bob")) == 403
    ws = connect(server, "/staff-only/", cookie=login(server, "carol", "view_user"))
    assert ws.recv() == "you may view users"
    receive_close(ws)


def test_connections_endpoint_is_staff_only_and_lists_this_process(server):
    import http.cookiejar

    ws = connect(server, "/group/dash/member/")
    assert ws.recv() == "joined"
    anonymous = urllib.request.urlopen
    with pytest.raises(urllib.error.HTTPError) as info:
        anonymous(server.http_url("/admin/websockets/"), timeout=TIMEOUT)
    assert info.value.code == 403
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(server.http_url("/test-login/?user=admin&staff=1"), timeout=TIMEOUT)
    with opener.open(server.http_url("/admin/websockets/"), timeout=TIMEOUT) as response:
        report = json.load(response)
    entry = next(c for c in report["connections"] if c["path"] == "/group/dash/member/")
    assert entry["groups"] == ["dash"] and entry["user"] == "anonymous"
    ws.close()


def test_log_line_names_the_user(server):
    ws = connect(server, "/private/", cookie=login(server, "erin"))
    assert ws.recv() == "hello erin"
    receive_close(ws)
    server.wait_for_log(r'"GET /private/ HTTP/1.1" 101 .* user=erin close=1000')
