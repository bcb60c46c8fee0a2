"""Bad handshakes get a 4xx that says why, before the view runs (RFC 6455 4.2)."""

from __future__ import annotations

import pytest

from tests.support.clients import client_frame, connect, handshake
from tests.support.net import raw_request
from tests.support.timing import TIMEOUT, wait_for


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


@pytest.mark.parametrize("field", [
    b"X-Note: a\x01b",  # a control character (RFC 9110 5.5)
    b"X-Note: a\x00b",
    b"X-Note: a\x7fb",
    b"X-Note: a\r\n  folded onto the next line",  # obs-fold, RFC 9112 5.2
], ids=["soh", "nul", "del", "folded"])
def test_a_header_with_a_control_character_or_a_fold_is_400(server, field):
    start = len(server.log())  # the session's server: only this test's lines
    head = handshake().replace(b"\r\n\r\n", b"\r\n" + field + b"\r\n\r\n", 1)
    status, _, body = raw_request(server, head)
    assert status == 400
    assert body == b"Failed to open a WebSocket connection: invalid X-Note header.\n"
    # The server's output is read by a thread: wait for the line.
    wait_for(lambda: "refused for '/echo/': 400 Bad Request ('invalid X-Note header"
             in server.log()[start:])
    assert "Traceback" not in server.log()[start:]


def test_the_client_s_bytes_are_escaped_in_the_refusal_log_line(server):
    # The class of Django's CVE-2025-48432: an ESC sequence from the request
    # line would recolour (or rewrite) the terminal of whoever reads the log.
    start = len(server.log())  # the session's server: only this test's lines
    head = handshake("/echo/?x=\x1b[31mred", version="8")
    assert raw_request(server, head)[0] == 426
    wait_for(lambda: "refused for '/echo/?x=\\x1b[31mred': 426" in server.log()[start:])
    wait_for(lambda: '"GET /echo/?x=\\x1b[31mred HTTP/1.1" 426' in server.log()[start:])
    assert "\x1b" not in server.log()[start:]


def test_a_malformed_subprotocol_header_is_refused_without_logging_its_value(server):
    # Browsers cannot set Authorization: a token often travels as a subprotocol.
    start = len(server.log())  # the session's server: only this test's lines
    head = handshake("/echo/", extra=["Sec-WebSocket-Protocol: token.s3cr3t v@lue,,"])
    assert raw_request(server, head)[0] == 400
    wait_for(lambda: "invalid Sec-WebSocket-Protocol header: [redacted]" in server.log()[start:])
    assert "s3cr3t" not in server.log()[start:]
