"""Nagle's algorithm and runws: keep-alive requests and a push stream, before and after.

    python3 bench/studies/nagle.py [--requests 200] [--ticks 60] [--interval 0.005]

Starts the test project (``tests.settings``) under django_ws's server twice on
127.0.0.1, once as before the fix (``TCP_NODELAY`` not set, head and body in
two writes, as pywsgi does) and once as shipped, and measures against each:

- keep-alive HTTP: ``--requests`` sequential GETs on one connection (the way
  a browser loads a page and its assets), requests per second;
- a push stream: a WebSocket view sends ``--ticks`` messages ``--interval``
  seconds apart to a client that sends nothing; the p99 and the largest gap
  between arrivals.

Every loop is bounded in count and time; the servers are stopped by PID.
Nothing here asserts: it prints figures and ratios. Run it from the
repository root with the package's venv (``.venv/bin/python bench/studies/nagle.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60.0  # seconds any one measurement may take


def serve(mode: str) -> None:
    """The server process: ``before`` undoes the fix in this process only."""
    from django_ws.process.patching import patch

    patch()
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application

    from django_ws.server.handler import WebSocketHandler
    from django_ws.server.wsgi import WebSocketServer
    from django_ws.server.wsgi import serve as run

    if mode == "before":
        WebSocketHandler.tcp_nodelay = False
        WebSocketHandler.coalesce_limit = -1  # every response as pywsgi writes it
    server = WebSocketServer(("127.0.0.1", 0), get_wsgi_application(), log=None)
    server.init_socket()
    print(f"PORT {server.server_port}", flush=True)
    run(server, drain_timeout=1.0)


def start(mode: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DJANGO_WS_TEST_DB": os.path.join(tempfile.gettempdir(), "django_ws_nagle.sqlite3"),
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, __file__, "--serve", mode], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"PORT (\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"the {mode} server did not start: {line!r}")
    return process, int(match[1])


def keep_alive_rate(port: int, requests: int) -> float:
    request = b"GET /echo/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    deadline = time.monotonic() + LIMIT
    with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as sock:
        started = time.perf_counter()
        for _ in range(requests):
            sock.sendall(request)
            data = b""
            while True:
                head, end_of_head, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if end_of_head and length and len(body) >= int(length[1]):
                    break
                chunk = sock.recv(65536)
                if not chunk or time.monotonic() > deadline:
                    raise RuntimeError("the server stopped answering")
                data += chunk
        return requests / (time.perf_counter() - started)


def push_gaps(port: int, ticks: int, interval: float) -> list[float]:
    import websocket  # websocket-client: an independent client library

    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/ticker/?ticks={ticks}&interval={interval}", timeout=LIMIT)
    arrivals = []
    try:
        for _ in range(ticks):
            ws.recv()
            arrivals.append(time.perf_counter())
    finally:
        ws.close()
    return [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:], strict=False)]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def measure(args: argparse.Namespace) -> None:
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], cwd=ROOT, check=True,
                   env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                        "DJANGO_WS_TEST_DB": os.path.join(tempfile.gettempdir(),
                                                          "django_ws_nagle.sqlite3"),
                        "PYTHONPATH": str(ROOT)}, timeout=LIMIT)
    results = {}
    for mode in ("before", "after"):
        process, port = start(mode)
        try:
            rate = keep_alive_rate(port, args.requests)
            gaps = push_gaps(port, args.ticks, args.interval)
            results[mode] = (rate, p99(gaps), max(gaps))
        finally:
            process.send_signal(signal.SIGTERM)  # the server we started
            process.wait(LIMIT)
    before, after = results["before"], results["after"]
    print(f"{args.requests} keep-alive requests on one connection; {args.ticks} pushes "
          f"{args.interval * 1000:g} ms apart to a silent client (127.0.0.1, "
          f"{os.cpu_count()} cores)\n")
    print("| | before (Nagle on, head and body in two writes) | after | after / before |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| keep-alive HTTP requests/s | {before[0]:,.0f} | {after[0]:,.0f} | "
          f"{after[0] / before[0]:.1f}x |")
    print(f"| push stream: p99 gap between arrivals (ms) | {before[1]:.1f} | {after[1]:.1f} | "
          f"{after[1] / before[1]:.2f}x |")
    print(f"| push stream: largest gap (ms) | {before[2]:.1f} | {after[2]:.1f} | "
          f"{after[2] / before[2]:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("--serve", choices=("before", "after"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
    else:
        measure(args)


if __name__ == "__main__":
    main()
