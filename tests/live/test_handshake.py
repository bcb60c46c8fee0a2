"""Bad handshakes get a 4xx that says why, before the view runs (RFC 6455 4.2)."""

from __future__ import annotations

import pytest

from tests.conftest import TIMEOUT, client_frame, connect, handshake, raw_request


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (handshake(key=None), 400, b"Sec-WebSocket-Key"),
        (handshake(key="not base64!"), 400, b"Sec-WebSocket-Key"),
        (handshake(key="c2hvcnQ="), 400, b"Sec-WebSocket-Key"),  # 5 bytes, not 16
        (handshake(extra=["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]), 400,
         b"Sec-WebSocket-Key"),  # repeated
        (handshake(method="POST"), 405, b"POST"),
    ],
    ids=["missing-key", "bad-key", "short-key", "two-keys", "post"],
)
def test_bad_handshake_gets_4xx_with_reason(server, request_bytes, status, reason):
    got_status, headers, body = raw_request(server, request_bytes)
    assert got_status == status
    assert reason in body
    assert b"Traceback" not in body


@pytest.mark.parametrize("version", ["8", None])
def test_bad_version_gets_426_with_supported_version(server, version):
    status, headers, body = raw_request(server, handshake(version=version))
    assert status == 426  # RFC 6455 4.2.2
    assert headers["sec-websocket-version"] == "13"


def test_server_serves_after_bad_handshakes(server):
    for request_bytes in (handshake(key=None), handshake(version="8"), b"garbage\r\n\r\n"):
        raw_request(server, request_bytes)
    ws = connect(server, "/echo/")
    ws.send("still alive")
    assert ws.recv() == "still alive"
    ws.close()


@pytest.mark.parametrize("extra", [["Content-Length: 5"], ["Transfer-Encoding: chunked"]])
def test_handshake_with_a_body_is_refused(server, extra):
    status, _, body = raw_request(server, handshake(extra=extra) + b"hello")
    assert status == 400
    assert b"no body" in body


@pytest.mark.parametrize("path", ["/echo/", "/detached/"])
def test_frames_sent_with_the_handshake_are_not_lost(server, path):
    # A client that does not wait for the 101: the HTTP server has read the
    # frames with the request head, and the view (or a detached view's
    # on_message) still gets them, in order.
    import socket

    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(handshake(path) + client_frame(1, b"early") + client_frame(1, b"bird"))
        data = b""
        while data.count(b"early") + data.count(b"bird") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    head, _, frames = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    assert frames == b"\x81\x05early\x81\x04bird"
