#!/usr/bin/env python3
"""Reference echo server built on the `websockets` library's own sync server.

It lets the Autobahn runner (compliance/autobahn/run.py) be validated end to end
without django_ws: whatever `websockets` scores here is the baseline that
django_ws, which reuses the same sans-I/O protocol core, should match.

    .venv/bin/python compliance/autobahn/ref_echo_server.py --port 9002

The request path is ignored, so ws://127.0.0.1:9002/echo/ works as well.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from websockets.sync.server import ServerConnection, serve


def echo(websocket: ServerConnection) -> None:
    # Iterating ends quietly on a normal close; protocol errors are reported
    # to the peer by the library itself (close codes are what Autobahn grades).
    for message in websocket:
        websocket.send(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument(
        "--max-size",
        type=int,
        default=2**25,
        help="max message size in bytes; Autobahn 9.* sends up to 16 MiB "
        "(default: %(default)s, the value websockets' own compliance setup uses)",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    # The library logs every failed handshake/protocol error at INFO/ERROR;
    # Autobahn provokes hundreds on purpose, so stay quiet unless asked.
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL)

    with serve(echo, args.host, args.port, max_size=args.max_size) as server:

        def stop(signum: int, frame: FrameType | None) -> None:
            # shutdown() waits for serve_forever() to return, and that runs in
            # this (the signal-handling) thread: call it from another thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

        # The runner stops us with SIGTERM; shut down cleanly (close 1001 to
        # open connections) rather than dying mid-write.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"ref_echo_server: listening on ws://{args.host}:{args.port}/", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
