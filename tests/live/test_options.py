"""Per-view options and permessage-deflate, with the websockets library's client."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.support.timing import TIMEOUT


def test_compression_is_negotiated_by_default(server):
    with connect(server.ws_url("/echo/"), open_timeout=TIMEOUT) as ws:
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        big = "compress me " * 10_000
        ws.send(big)
        assert ws.recv(timeout=TIMEOUT) == big


def test_compression_can_be_refused_by_the_client(server):
    with connect(server.ws_url("/echo/"), compression=None, open_timeout=TIMEOUT) as ws:
        assert ws.protocol.extensions == []
        ws.send("plain")
        assert ws.recv(timeout=TIMEOUT) == "plain"


def test_per_view_limits_and_no_compression(server):
    with connect(server.ws_url("/small/"), open_timeout=TIMEOUT) as ws:
        assert ws.protocol.extensions == []  # compression=None on this view
        ws.send("0123456789")
        assert ws.recv(timeout=TIMEOUT) == "0123456789"
        ws.send("0123456789+")  # 11 bytes, over max_message_size=10
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd.code == 1009


def test_compression_setting_off(server_factory):
    live = server_factory(WEBSOCKET_COMPRESSION=None)
    with connect(live.ws_url("/echo/"), open_timeout=TIMEOUT) as ws:
        assert ws.protocol.extensions == []


def test_a_per_view_message_rate_closes_a_flooding_client_with_1008(server):
    # Burst 3, then 1 per second, closing past it: the first three are echoed.
    with connect(server.ws_url("/rate-limited/"), open_timeout=TIMEOUT) as ws:
        try:
            for i in range(10):
                ws.send(f"m{i}")
        except ConnectionClosedError:
            pass  # a slow client may meet the close before its last sends
        echoed = []  # what came before the close is still read
        with pytest.raises(ConnectionClosedError) as info:
            while True:
                echoed.append(ws.recv(timeout=TIMEOUT))
    assert echoed == ["m0", "m1", "m2"]
    assert info.value.rcvd.code == 1008

