"""The pywsgi handler in-process: socket options and how responses are written.

A real gevent server on 127.0.0.1 in this process (gevent sockets; nothing is
monkey-patched) and a gevent socket as the client.
"""

from __future__ import annotations

import contextlib
import socket

import gevent
from gevent import socket as gsocket

from django_ws.server.handler import WebSocketHandler
from django_ws.server.wsgi import WebSocketServer
from tests.support.timing import TIMEOUT


class RecordingHandler(WebSocketHandler):
    writes: list[bytes] = []
    nodelay: list[int] = []

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def _sendall(self, data):
        self.writes.append(bytes(data))
        super()._sendall(data)


def small_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def chunked_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])  # no length: chunked
    yield b"one"
    yield b"two"


def big_app(environ, start_response):
    body = b"x" * (WebSocketHandler.coalesce_limit + 1)
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def serving(app):
    RecordingHandler.writes, RecordingHandler.nodelay = [], []
    server = WebSocketServer(("127.0.0.1", 0), app, handler_class=RecordingHandler, log=None)
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=TIMEOUT)


def exchange(server, requests: int) -> bytes:
    client = gsocket.create_connection(("127.0.0.1", server.server_port), timeout=TIMEOUT)
    received = b""
    with client:
        for _ in range(requests):
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            with gevent.Timeout(TIMEOUT):
                while received.count(b"HTTP/1.1 200") < _ + 1 or not received.endswith(
                        (b"hello", b"0\r\n\r\n", b"x")):
                    received += client.recv(1 << 20)
    return received


def test_accepted_sockets_have_nagle_off():
    with serving(small_app) as server:
        exchange(server, 1)
    assert RecordingHandler.nodelay == [1]


def test_a_small_response_goes_out_in_one_write():
    with serving(small_app) as server:
        exchange(server, 3)  # keep-alive: the second and third wait on no ACK
    assert len(RecordingHandler.writes) == 3
    for write in RecordingHandler.writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\nhello")


def test_a_chunked_response_keeps_its_framing():
    with serving(chunked_app) as server:
        received = exchange(server, 1)
    assert received.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")
    assert RecordingHandler.writes[0].endswith(b"\r\n\r\n3\r\none\r\n")  # head + first chunk


def test_a_large_response_is_not_copied_into_its_head():
    with serving(big_app) as server:
        exchange(server, 1)
    head, body = RecordingHandler.writes
    assert head.endswith(b"\r\n\r\n") and len(body) == WebSocketHandler.coalesce_limit + 1


def test_a_handshake_while_the_server_drains_gets_503_with_retry_after(monkeypatch):
    import django_ws.server.handler as handler
    from tests.support.clients import handshake
    from tests.support.net import recv_until

    monkeypatch.setattr(handler, "_draining", True)  # as close_idle_connections() leaves it
    with serving(small_app) as server:
        client = gsocket.create_connection(("127.0.0.1", server.server_port), timeout=TIMEOUT)
        with client:
            client.sendall(handshake("/"))
            answer = recv_until(client, b"try again later")
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"\r\nRetry-After: 5\r\n" in answer
    assert b"this server is shutting down" in answer
