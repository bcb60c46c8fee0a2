"""The public test helpers: the pytest plugin's fixtures and the unittest case."""

from __future__ import annotations

import urllib.request

import pytest

from django_ws.testing import HandshakeRejected, WebSocketLiveServerTestCase
from tests.support.timing import TIMEOUT


def test_ws_connect_fixture(ws_connect):
    client = ws_connect("/echo/")
    client.send("hi")
    assert client.receive() == "hi"
    client.send({"a": 1})
    assert client.receive_json() == {"a": 1}
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.05)


def test_close_code_assertion(ws_connect):
    client = ws_connect("/returns/")
    assert client.receive() == "bye"
    client.assert_closed(1000)


def test_rejected_handshake_status(ws_connect):
    with pytest.raises(HandshakeRejected) as info:
        ws_connect("/refuse/404/")
    assert info.value.status == 404
    with pytest.raises(HandshakeRejected) as info:
        ws_connect("/echo/", origin="https://evil.example")
    assert info.value.status == 403


def test_cookies_and_subprotocols(ws_connect, ws_live_server):
    with urllib.request.urlopen(ws_live_server.http_url("/test-login/?user=dora"),
                                timeout=TIMEOUT) as response:
        cookie = next(c for c in response.headers.get_all("Set-Cookie")
                      if c.startswith("sessionid="))
    session = cookie.split(";")[0].split("=", 1)[1]
    client = ws_connect("/private/", cookies={"sessionid": session})
    assert client.receive() == "hello dora"
    client = ws_connect("/subprotocol/", subprotocols=["chat.v1"])
    assert client.subprotocol == "chat.v1"


class AcceptAllTests(WebSocketLiveServerTestCase):
    """The unittest flavour, with its own server and settings."""

    websocket_settings = {"WEBSOCKET_ACCEPT_ALL": True}

    def test_undecorated_view_accepted(self):
        client = self.connect("/undecorated/")
        self.assertEqual(client.receive(), "undecorated")
        client.assert_closed(1000)
