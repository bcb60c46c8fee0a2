"""Hostile clients: each gets the RFC's answer, and the server stays well.

Every test checks three things: the close code or HTTP status, that the server
still serves a normal echo afterwards, and that the server's memory stayed
under a stated bound (its RSS, read from /proc).
"""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request
import uuid
import zlib

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import RawClient, client_frame, connect, handshake
from tests.support.net import raw_request, rss_kib
from tests.support.timing import TIMEOUT, wait_for

MiB = 1024 * 1024
LIMIT = 1 * MiB  # WEBSOCKET_MAX_MESSAGE_SIZE, the default
#: How much the server may grow during one hostile test: a few times the
#: message size limit, plus headroom for allocator noise. A server that
#: buffered the hostile input would grow by hundreds of MiB.
RSS_BOUND_KIB = 24 * 1024

BINARY, CONT, PING, PONG = 2, 0, 9, 10


@pytest.fixture(scope="module")
def server(live_db):
    settings = {
        "WEBSOCKET_HANDSHAKE_TIMEOUT": 1.0,
        "WEBSOCKET_SEND_TIMEOUT": 1.0,
        "WEBSOCKET_CLOSE_TIMEOUT": 2.0,
        "WEBSOCKET_MAX_QUEUE": 8,
    }
    with LiveServer(settings_module="tests.settings", settings=settings,
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


@pytest.fixture
def guard(server):
    """Checks, after the test, that the server serves and did not balloon."""
    before = rss_kib(server.process.pid)
    yield
    ws = connect(server, "/echo/")
    ws.send("still serving")
    assert ws.recv() == "still serving"
    ws.close()
    growth = rss_kib(server.process.pid) - before
    assert growth < RSS_BOUND_KIB, f"server RSS grew by {growth} KiB"
    assert server.process.poll() is None


def probe(server, key):
    with urllib.request.urlopen(server.http_url(f"/probe/{key}/"), timeout=TIMEOUT) as response:
        return json.load(response)["value"]


def test_oversize_message_closes_1009_without_buffering(server, guard):
    client = RawClient(server)
    # Announce 64 MiB, send a little: the header alone is enough to refuse.
    client.send(client_frame(BINARY, b"x" * 1000, length=64 * MiB)[:1014])
    assert client.recv_close_code() == 1009
    client.close()


def test_2_63_length_header_closes_1009(server, guard):
    client = RawClient(server)
    client.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2**63 - 1) + b"\x01\x02\x03\x04")
    assert client.recv_close_code() == 1009
    client.close()


def test_fragmented_message_growing_past_the_limit_closes_1009(server, guard):
    client = RawClient(server)
    chunk = b"y" * (256 * 1024)
    try:
        client.send(client_frame(BINARY, chunk, fin=False))
        for _ in range(8):  # 2 MiB in all, over the 1 MiB limit
            client.send(client_frame(CONT, chunk, fin=False))
    except OSError:
        pass  # the server may close while we still send
    assert client.recv_close_code() == 1009
    client.close()


def deflate_bomb(inflated: int) -> bytes:
    """A raw-deflate payload (RFC 7692 7.2.1) that inflates to ``inflated`` zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(inflated // MiB)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


@pytest.fixture(scope="module")
def bomb():
    return deflate_bomb(512 * MiB)


def test_compression_bomb_closes_1009_with_bounded_memory(server, guard, bomb):
    assert len(bomb) < 1 * MiB  # about 0.5 MiB on the wire
    client = RawClient(server, extensions="permessage-deflate")
    assert "permessage-deflate" in client.response_head
    try:
        client.send(client_frame(BINARY, bomb, rsv1=True))
    except OSError:
        pass
    assert client.recv_close_code() == 1009
    client.close()


def test_fragmented_compression_bomb_closes_1009(server, guard, bomb):
    client = RawClient(server, extensions="permessage-deflate")
    half = len(bomb) // 2
    try:
        client.send(client_frame(BINARY, bomb[:half], fin=False, rsv1=True))
        client.send(client_frame(CONT, bomb[half:]))
    except OSError:
        pass
    assert client.recv_close_code() == 1009
    client.close()


def test_ping_flood_is_answered_within_the_budget_then_closed_1008(server, guard):
    client = RawClient(server)
    count = 2000
    try:
        client.send(b"".join(client_frame(PING, b"p" * 125) for _ in range(count)))
    except OSError:
        pass  # closed while we still send
    pongs = 0
    while True:
        opcode, payload = client.recv_frame()
        if opcode != PONG:
            break
        assert payload == b"p" * 125
        pongs += 1
    # WEBSOCKET_MAX_CONTROL_FRAMES: 50 a second, as many at once.
    assert 50 <= pongs < count
    assert opcode == 8 and struct.unpack("!H", payload[:2])[0] == 1008
    assert b"WEBSOCKET_MAX_CONTROL_FRAMES" in payload
    client.close()
    wait_for(lambda: "closed with 1008: more than 50 pings and pongs per second" in server.log())


def test_empty_fragment_flood_closes_1008_and_is_logged_once(server, guard):
    """opcode 0, FIN 0, no payload, for ever: no message, no size, only parsing."""
    client = RawClient(server)
    before = server.log().count("a message in more than 4096 fragments")
    flood = client_frame(BINARY, b"", fin=False) + client_frame(CONT, b"", fin=False) * 50_000
    try:
        client.send(flood)
    except OSError:
        pass  # closed while we still send
    assert client.recv_close_code() == 1008
    client.close()
    line = "closed with 1008: a message in more than 4096 fragments (WEBSOCKET_MAX_FRAGMENTS)"
    wait_for(lambda: line in server.log())
    assert server.log().count("a message in more than 4096 fragments") == before + 1


def test_a_fragmented_message_within_the_budget_is_delivered(server, guard):
    client = RawClient(server)
    client.send(client_frame(1, b"a", fin=False)
                + b"".join(client_frame(CONT, b"b", fin=False) for _ in range(4000))
                + client_frame(CONT, b"c"))
    assert client.recv_frame() == (1, b"a" + b"b" * 4000 + b"c")
    client.close()


def test_garbage_after_the_handshake_closes_1002(server, guard):
    client = RawClient(server)
    client.send(b"\x8f\x80" + b"\x00" * 4)  # reserved opcode 0xF, RFC 6455 5.2
    assert client.recv_close_code() == 1002
    client.close()


def test_reserved_bits_close_1002(server, guard):
    client = RawClient(server)  # no extension negotiated: RSV1 must be 0
    client.send(client_frame(1, b"hi", rsv1=True))
    assert client.recv_close_code() == 1002
    client.close()


def test_slowloris_handshake_is_cut_off(server, guard):
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    request = handshake("/echo/")
    closed_early = False
    # A byte every 0.2 s: the whole head would take ~30 s; the server allows 1 s.
    for index in range(len(request)):
        try:
            sock.sendall(request[index:index + 1])
        except OSError:
            closed_early = True
            break
        sock.settimeout(0.2)
        try:
            if sock.recv(1) == b"":
                closed_early = True
                break
        except TimeoutError:
            pass
        except ConnectionResetError:  # closed while our bytes were unread: RST
            closed_early = True
            break
        if index > 100:
            break
    sock.close()
    assert closed_early
    server.wait_for_log("WEBSOCKET_HANDSHAKE_TIMEOUT")


@pytest.mark.parametrize("extra", [
    [f"X-Filler-{n}: {'v' * 100}" for n in range(300)],  # past http.client's 100 lines
    [f"X-Big-{n}: {'v' * 60_000}" for n in range(2)],  # 120 KB: past 64 KiB in all
    [f"X-Line: {'v' * 70_000}"],  # one line past 64 KiB
], ids=["many", "big", "one-long-line"])
def test_oversized_headers_are_refused_431(server, guard, extra):
    # RFC 6585 5: 431 Request Header Fields Too Large (WEBSOCKET_MAX_REQUEST_HEAD).
    start = len(server.log())  # the module's server: only this test's lines
    try:
        status, _, body = raw_request(server, handshake(extra=extra))
    except ConnectionResetError:
        pytest.fail("no answer: the socket was reset")
    assert status == 431
    assert body == b"Request header fields too large (WEBSOCKET_MAX_REQUEST_HEAD).\n"
    wait_for(lambda: "431 " in server.log()[start:])
    assert "Traceback" not in server.log()[start:]


def test_a_head_just_under_the_limit_is_served(server, guard):
    ws = connect(server, "/echo/", header=[f"X-Filler-{n}: {'v' * 600}" for n in range(90)])
    ws.send("fine")
    assert ws.recv() == "fine"
    ws.close()


def test_http_1_0_handshake_is_400(server, guard):
    status, _, body = raw_request(server, handshake(http="HTTP/1.0"))
    assert status == 400
    assert b"HTTP/1.1" in body


def test_client_that_never_reads_cannot_block_the_server(server, guard):
    key = uuid.uuid4().hex
    client = RawClient(server, f"/flood/?key={key}")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Never read: the view's send() times out (WEBSOCKET_SEND_TIMEOUT=1) and the
    # connection is dropped, instead of the server buffering without limit.
    assert wait_for(lambda: probe(server, key)) == "TimeoutError"
    client.close()


def test_view_that_never_reads_applies_backpressure(server, guard):
    key = uuid.uuid4().hex
    client = RawClient(server, f"/slow-reader/?key={key}&sleep=4")
    client.sock.settimeout(1.0)
    message = client_frame(BINARY, b"z" * 65536)
    sent = 0
    try:
        for _ in range(4000):  # 256 MiB if nothing pushed back
            client.send(message)
            sent += 1
    except TimeoutError:
        pass
    # The queue holds 8 messages; the kernel buffers some more; then TCP
    # stops the client, long before it sent everything.
    assert sent < 1000
    assert wait_for(lambda: probe(server, key) is not None and (probe(server, key),)) == (8,)
    client.close()


def test_abrupt_disconnect_mid_frame_ends_the_view(server, guard):
    key = uuid.uuid4().hex
    client = RawClient(server, f"/iterate/?key={key}")
    client.send(client_frame(1, b"whole"))
    client.send(client_frame(1, b"half a frame")[:8])
    client.sock.close()
    assert wait_for(lambda: probe(server, key)) == {"seen": ["'whole'"], "none_seen": False}


def test_no_greenlet_or_connection_left_behind(server):
    def counts():
        with urllib.request.urlopen(server.http_url("/debug/greenlets/"), timeout=TIMEOUT) as r:
            return json.load(r)

    baseline = counts()
    clients = [connect(server, "/echo/") for _ in range(50)]
    for ws in clients:
        ws.send("x")
        ws.recv()
    for ws in clients[:25]:
        ws.close()
    for ws in clients[25:]:
        ws.sock.close()  # vanished peers
    # Every handler ends (close handshakes and TCP teardown take a moment).
    wait_for(lambda: (c := counts())["open"] == 0 and c["websockets"] <= baseline["websockets"]
             and c["greenlets"] <= baseline["greenlets"] + 2, timeout=TIMEOUT)


@pytest.fixture
def keepalive_server(live_db):
    settings = {"WEBSOCKET_PING_INTERVAL": 0.3, "WEBSOCKET_PING_TIMEOUT": 0.3}
    with LiveServer(settings_module="tests.settings", settings=settings,
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


@pytest.mark.parametrize("path", ["/echo/", "/detached/"])
def test_silent_client_is_pinged_then_closed_1011(keepalive_server, path):
    client = RawClient(keepalive_server, path)
    time.sleep(1.5)  # ping after 0.3 s of silence, give up 0.3 s later
    opcode, _ = client.recv_frame()
    assert opcode == PING
    assert client.recv_close_code() == 1011
    client.close()


def test_client_answering_pings_stays_connected(keepalive_server):
    # The client sends nothing but the pongs: only they can keep it open (any
    # data counts as alive, so a client that talks would pass even if the
    # server ignored pongs). Pings every ~0.6 s, each answered within the
    # 0.3 s ping timeout, for about six ping timeouts.
    client = RawClient(keepalive_server, "/echo/")
    pings = 0
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        opcode, payload = client.recv_frame()
        assert opcode == PING, f"expected a ping, got opcode {opcode}: {payload!r}"
        pings += 1
        client.send(client_frame(PONG, payload))
    assert pings >= 2
    client.send(client_frame(1, b"still here"))
    assert client.recv_frame() == (1, b"still here")
    client.close()


def test_client_pings_are_answered_while_the_view_only_sends(server, guard):
    client = RawClient(server, "/ticker/?ticks=50")
    client.send(client_frame(PING, b"are you there"))
    while True:
        opcode, payload = client.recv_frame()
        if opcode == PONG:
            assert payload == b"are you there"
            break
        assert opcode == 1 and payload.startswith(b"tick")
    client.close()


@pytest.mark.parametrize("path", ["/echo/", "/detached/"])
def test_5000_connections_leak_nothing(server, path):
    def counts():
        with urllib.request.urlopen(server.http_url("/debug/greenlets/"), timeout=TIMEOUT) as r:
            return json.load(r)

    baseline = counts()
    before = rss_kib(server.process.pid)
    deadline = time.monotonic() + 120  # bounded in time as well as in count
    for n in range(5000):
        ws = connect(server, path)
        ws.send("x")
        assert ws.recv() == "x"
        if n % 2:
            ws.close()
        else:
            ws.sock.close()  # half of them vanish without a close frame
        if time.monotonic() > deadline:
            pytest.fail(f"only {n} connections in 120 s")
    wait_for(lambda: (c := counts())["open"] == 0 and c["websockets"] <= baseline["websockets"]
             and c["greenlets"] <= baseline["greenlets"] + 2, timeout=TIMEOUT)
    growth = rss_kib(server.process.pid) - before
    assert growth < 16 * 1024, f"RSS grew by {growth} KiB over 5,000 connections"


def test_two_clients_pushing_at_a_view_that_never_reads_stay_bounded(live_db):
    """The issue's figure: 64 messages of 1 MiB queued per connection grew the
    server by 129-134 MiB for two clients. The queue is bounded in bytes now
    (WEBSOCKET_MAX_QUEUE_BYTES, 1 MiB): the defaults, no setting changed."""
    import threading

    with LiveServer(settings_module="tests.settings",
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        keys = [uuid.uuid4().hex for _ in range(2)]
        clients = [RawClient(live, f"/slow-reader/?key={key}&sleep={6 * TIMEOUT}")
                   for key in keys]
        before = rss_kib(live.process.pid)
        message = client_frame(BINARY, b"m" * (LIMIT - 16))
        sent = [0, 0]

        def push(index):
            client = clients[index]
            client.sock.settimeout(TIMEOUT / 5)
            try:
                for _ in range(64):  # 64 MiB
                    client.send(message)
                    sent[index] += 1
            except (TimeoutError, OSError):
                pass  # backpressure: the window closed

        pushers = [threading.Thread(target=push, args=(index,)) for index in range(2)]
        for pusher in pushers:
            pusher.start()
        for pusher in pushers:
            pusher.join(3 * TIMEOUT)
        growth = rss_kib(live.process.pid) - before
        assert all(count < 64 for count in sent), sent
        assert growth <= 48 * 1024, f"server RSS grew by {growth} KiB for {sent} messages"
        for client in clients:
            client.close()
