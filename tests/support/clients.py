"""Clients of a live test server: websocket-client connections (an independent
client library), hand-made handshakes and frames, a raw frame-level client."""

from __future__ import annotations

import socket
import struct

import websocket

from tests.support.timing import TIMEOUT

#: The test project's settings module.
SETTINGS = "tests.settings"


def connect(server, path, **options):
    """A websocket-client connection (an independent client library)."""
    options.setdefault("timeout", TIMEOUT)
    return websocket.create_connection(server.ws_url(path), **options)


def receive_close(ws):
    """Read until the server's close frame; return (code, reason)."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            # websocket-client answered the close frame (with 1000); the
            # server may now drop TCP, and the test needs the socket no more.
            data = frame.data
            ws.shutdown()
            if len(data) < 2:
                return 1005, ""
            return int.from_bytes(data[:2], "big"), data[2:].decode()


def handshake(path="/echo/", *, key="dGhlIHNhbXBsZSBub25jZQ==", version="13", extra=(),
              method="GET", http="HTTP/1.1"):
    """The bytes of a handshake request, with parts to break."""
    lines = [f"{method} {path} {http}", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False,
                 length: int | None = None) -> bytes:
    """A masked client frame (RFC 6455 5.2), built by hand so it can be wrong.

    ``length`` announces another payload length than the real one.
    """
    mask = b"\x01\x02\x03\x04"
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    length = len(payload) if length is None else length
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
        len(payload), "big") if payload else b""
    return head + mask + masked


class RawClient:
    """A bare-socket WebSocket client for hostile tests: sends what it is told."""

    def __init__(self, server, path="/echo/", *, extensions=None, timeout=TIMEOUT):

        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        extra = [f"Sec-WebSocket-Extensions: {extensions}"] if extensions else []
        self.sock.sendall(handshake(path, extra=extra))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.response_head = head.decode("latin-1")
        assert self.response_head.startswith("HTTP/1.1 101"), self.response_head

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload)."""
        b0, b1 = self._read_exact(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        return b0 & 0x0F, self._read_exact(length)

    def recv_close_code(self) -> int:
        """Skip frames until the close frame; return its code."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()
