"""The django_ws engine without Django: gevent StreamServer + websockets' sans-I/O
ServerProtocol, one greenlet per connection.

Routes (same as every server in the suite):
  GET  /ws/echo/           WebSocket echo (text and binary)
  GET  /ws/bcast/          WebSocket that joins the broadcast set, says "ready", then idles
  POST /broadcast/?msg=X   plain HTTP: fan X out to every /ws/bcast/ member
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

from gevent.server import StreamServer
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Event, State
from websockets.server import ServerProtocol

RECV_SIZE = 256 * 1024
# 16 MiB so S3's 1 MiB messages never hit the 1 MiB default limit.
MAX_SIZE = 16 * 1024 * 1024
MAX_HEAD = 64 * 1024
CLOSE_WAIT = 2.0  # seconds to wait for the peer's FIN after our half-close

# Broadcast members: socket -> protocol. A dict, not a set of pairs, so a
# closing member can remove itself in O(1).
MEMBERS: dict[socket.socket, ServerProtocol] = {}


def flush(sock: socket.socket, proto: ServerProtocol) -> bool:
    """Write what the protocol produced. False once it asked for a TCP half-close."""
    chunks = proto.data_to_send()
    if not chunks:
        return True
    eof = chunks[-1] == b""  # SEND_EOF always comes last
    data = b"".join(chunks)
    if data:
        sock.sendall(data)
    if eof:
        sock.shutdown(socket.SHUT_WR)
        return False
    return True


def wait_peer_close(sock: socket.socket) -> None:
    """After our half-close, give the client a moment to close its side."""
    sock.settimeout(CLOSE_WAIT)
    try:
        while sock.recv(RECV_SIZE):
            pass
    except OSError:
        pass


def serve_echo(sock: socket.socket, proto: ServerProtocol, pending: Sequence[Event]) -> None:
    fragments: list[bytes | bytearray | memoryview] = []
    kind = Opcode.TEXT
    events = pending
    recv = sock.recv
    while True:
        for event in events:
            if not isinstance(event, Frame):
                continue
            op = event.opcode
            if op is Opcode.TEXT or op is Opcode.BINARY:
                if event.fin:
                    # Text payloads stay as UTF-8 bytes: no decode/encode round trip.
                    if op is Opcode.TEXT:
                        proto.send_text(event.data)
                    else:
                        proto.send_binary(event.data)
                else:
                    kind, fragments = op, [event.data]
            elif op is Opcode.CONT:
                fragments.append(event.data)
                if event.fin:
                    data = b"".join(fragments)
                    fragments = []
                    if kind is Opcode.TEXT:
                        proto.send_text(data)
                    else:
                        proto.send_binary(data)
        if not flush(sock, proto):
            wait_peer_close(sock)
            return
        data = recv(RECV_SIZE)
        if not data:
            proto.receive_eof()
            flush(sock, proto)
            return
        proto.receive_data(data)
        events = proto.events_received()


def serve_bcast(sock: socket.socket, proto: ServerProtocol, pending: Sequence[Event]) -> None:
    MEMBERS[sock] = proto
    try:
        proto.send_text(b"ready")
        if not flush(sock, proto):
            return
        while True:
            data = sock.recv(RECV_SIZE)
            if not data:
                proto.receive_eof()
                flush(sock, proto)
                return
            proto.receive_data(data)
            proto.events_received()  # pings/closes are answered by the protocol itself
            if not flush(sock, proto):
                wait_peer_close(sock)
                return
    finally:
        MEMBERS.pop(sock, None)


ROUTES: dict[str, Callable[[socket.socket, ServerProtocol, Sequence[Event]], None]] = {
    "/ws/echo/": serve_echo,
    "/ws/bcast/": serve_bcast,
}


def http_reply(sock: socket.socket, status: str, body: bytes) -> None:
    sock.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )


def broadcast(msg: bytes) -> int:
    """The raw gevent fan-out loop: frame and write to each member in turn."""
    sent = 0
    for member, proto in list(MEMBERS.items()):
        if proto.state is not State.OPEN:
            continue
        proto.send_text(msg)
        try:
            # Members only read, so this greenlet is the only writer on the socket.
            flush(member, proto)
            sent += 1
        except OSError:
            MEMBERS.pop(member, None)
    return sent


def serve_http(sock: socket.socket, head: bytes) -> None:
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    url = urlsplit(parts[1] if len(parts) > 1 else "/")
    if url.path != "/broadcast/":
        http_reply(sock, "404 Not Found", b"not found\n")
        return
    msg = parse_qs(url.query).get("msg", [""])[0].encode()
    sent = broadcast(msg)
    http_reply(sock, "200 OK", f"{sent}\n".encode())


def handle(sock: socket.socket, _address: tuple[str, int]) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(RECV_SIZE)
            if not data or len(buf) > MAX_HEAD:
                return
            buf += data
        if buf.startswith(b"POST "):
            # websockets' Request.parse accepts only body-less requests; the
            # broadcast trigger is ours, so route it before the protocol.
            serve_http(sock, buf)
            return
        proto = ServerProtocol(max_size=MAX_SIZE)
        proto.receive_data(buf)
        events = proto.events_received()
        if not events or not isinstance(events[0], Request):
            flush(sock, proto)
            return
        request = events[0]
        route = ROUTES.get(urlsplit(request.path).path)
        response = proto.accept(request) if route else proto.reject(404, "not found\n")
        proto.send_response(response)
        if not flush(sock, proto) or proto.state is not State.OPEN or route is None:
            return
        route(sock, proto, events[1:])
    except OSError:
        pass
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    StreamServer((args.host, args.port), handle, backlog=2048).serve_forever()


if __name__ == "__main__":
    main()
