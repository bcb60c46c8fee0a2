"""Plain gevent TCP echo: bytes in, bytes out, no HTTP and no WebSocket framing.

It is the floor of the suite: whatever a WebSocket server costs on top of
this is handshake, framing and application overhead.
"""

from __future__ import annotations

import argparse
import socket

from gevent.server import StreamServer

# Large reads so a 1 MiB echo (S3) needs few loop turns.
RECV_SIZE = 256 * 1024


def handle(sock: socket.socket, _address: tuple[str, int]) -> None:
    # asyncio peers set TCP_NODELAY by default; do the same so echo replies
    # are never held back by Nagle's algorithm.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv, sendall = sock.recv, sock.sendall
    try:
        while True:
            data = recv(RECV_SIZE)
            if not data:
                break
            sendall(data)
    except OSError:
        pass
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # backlog above the default so the S4/S5 connection bursts are not dropped.
    StreamServer((args.host, args.port), handle, backlog=2048).serve_forever()


if __name__ == "__main__":
    main()
