"""A full process says so in HTTP, before any 101, and takes connections again."""

from __future__ import annotations

import pytest
import websocket

from tests.support.clients import connect
from tests.support.timing import TIMEOUT, wait_for


def test_past_max_connections_a_handshake_gets_503_then_recovers(server_factory):
    live = server_factory(WEBSOCKET_MAX_CONNECTIONS=2, WEBSOCKET_RETRY_AFTER=7)
    first, second = connect(live, "/echo/"), connect(live, "/detached/")
    for ws in (first, second):  # both accepted: one attached, one detached
        ws.send("x")
        assert ws.recv() == "x"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(live, "/echo/")
    assert info.value.status_code == 503
    assert info.value.resp_headers["retry-after"] == "7"
    assert b"at its limit of 2 connections" in info.value.resp_body
    live.wait_for_log(r"WebSocket handshake refused for '/echo/': 503", TIMEOUT)
    first.close()

    def accepted_again():
        try:
            ws = connect(live, "/echo/")
        except websocket.WebSocketBadStatusException:
            return None
        return ws

    third = wait_for(accepted_again, timeout=TIMEOUT)
    third.send("back")
    assert third.recv() == "back"
    third.close()
    second.close()
    # Plain HTTP is never refused by the WebSocket limit.
    import urllib.request

    with urllib.request.urlopen(live.http_url("/echo/"), timeout=TIMEOUT) as response:
        assert response.status == 200
