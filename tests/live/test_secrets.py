"""No secret from a query string reaches a log line or the connection registry.

The README's token example passes the token in the query string, and an
access log would keep it. Each kind of line django_ws writes is provoked with
a distinct secret, then the server's whole output is searched for them.
"""

from __future__ import annotations

import http.cookiejar
import json
import socket
import urllib.request

import pytest
import websocket

from tests.support.clients import connect, handshake
from tests.support.timing import TIMEOUT

SECRETS = [f"SECRET{n}x" for n in range(7)]


def test_query_string_secrets_stay_out_of_the_logs(server_factory):
    live = server_factory()
    # A WebSocket's line at its end, with another parameter kept as sent.
    ws = connect(live, f"/echo/?token={SECRETS[0]}&room=lobby")
    ws.send("hi")
    assert ws.recv() == "hi"
    ws.close()
    # A plain HTTP request's line.
    urllib.request.urlopen(live.http_url(f"/echo/?access_token={SECRETS[1]}"),
                           timeout=TIMEOUT).read()
    # A view that refuses the handshake with an HTTP status.
    with pytest.raises(websocket.WebSocketBadStatusException):
        connect(live, f"/refuse/403/?api_key={SECRETS[2]}")
    # A malformed handshake, refused before any view (its own log line).
    with socket.create_connection((live.host, live.port), timeout=TIMEOUT) as sock:
        sock.sendall(handshake(f"/echo/?signature={SECRETS[3]}", key=None))
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")
    # A client that vanishes: the connection logs the cause with its path.
    gone = connect(live, f"/echo/?jwt={SECRETS[6]}")
    gone.send("x")
    assert gone.recv() == "x"
    gone.sock.close()  # no close frame
    live.wait_for_log(r"WebSocket /echo/\?jwt=\[redacted\] from 127\.0\.0\.1:\d+ lost", TIMEOUT)
    # The staff registry of open connections.
    member = connect(live, f"/group/dash/member/?session={SECRETS[4]}")
    assert member.recv() == "joined"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(live.http_url(f"/test-login/?user=admin&staff=1&x-auth={SECRETS[5]}"),
                timeout=TIMEOUT)
    with opener.open(live.http_url("/admin/websockets/"), timeout=TIMEOUT) as response:
        registry = response.read().decode()
    paths = [c["path"] for c in json.loads(registry)["connections"]]
    assert "/group/dash/member/?session=[redacted]" in paths
    member.close()
    live.wait_for_log(r"/group/dash/member/\?session=\[redacted\] HTTP/1.1\" 101", TIMEOUT)
    log = live.log()
    assert '"GET /echo/?token=[redacted]&room=lobby HTTP/1.1" 101' in log
    assert '"GET /echo/?access_token=[redacted] HTTP/1.1" 200' in log
    assert "/refuse/403/?api_key=[redacted]" in log
    assert "/echo/?signature=[redacted]" in log
    for secret in SECRETS:
        assert secret not in log, secret
        assert secret not in registry, secret


def test_the_readme_token_patterns(server):
    from django.core.signing import TimestampSigner

    token = TimestampSigner(sep=".", salt="chat.websocket-token").sign("42")
    unsalted = TimestampSigner(sep=".").sign("42")  # signed for another purpose
    ws = connect(server, "/token-feed/", subprotocols=[f"token.{token}"])
    assert ws.recv() == "user 42"
    assert ws.subprotocol == f"token.{token}".lower()  # websocket-client lowercases it
    ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/token-feed/", subprotocols=["token.forged"])
    assert info.value.status_code == 403
    ws = connect(server, "/token-inbox/")
    ws.send(token)
    assert ws.recv() == "user 42"
    ws.close()
    from tests.support.clients import receive_close

    for first in ("forged", unsalted, b"\x00binary"):  # a binary first frame: no 1011
        ws = connect(server, "/token-inbox/")
        if isinstance(first, bytes):
            ws.send_binary(first)
        else:
            ws.send(first)
        assert receive_close(ws) == (1008, "authentication failed")
    with pytest.raises(websocket.WebSocketBadStatusException):
        connect(server, "/token-feed/", subprotocols=[f"token.{unsalted}"])


def test_gunicorn_access_log_has_no_query_secret(live_db, tmp_path):
    from tests.support.gunicorn import Gunicorn

    log = tmp_path / "access.log"
    server = Gunicorn(live_db, workers=1, args=("--access-logfile", str(log),
                                                "--error-logfile", str(tmp_path / "error.log")))
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/echo/?token={SECRETS[0]}&a=1",
                               timeout=TIMEOUT).read()
        ws = connect(server, f"/echo/?api_key={SECRETS[1]}")
        ws.send("x")
        assert ws.recv() == "x"
        ws.close()
    finally:
        assert server.stop() == 0
    text = log.read_text() + (tmp_path / "error.log").read_text()
    assert '"GET /echo/?token=[redacted]&a=1 HTTP/1.1" 200' in text, text
    assert SECRETS[0] not in text and SECRETS[1] not in text, text
