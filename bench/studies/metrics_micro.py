"""The counting's own cost, in one process: CPU per echo round trip, metrics on vs off.

    .venv/bin/python bench/studies/metrics_micro.py [--rounds 6] [--trips 50000]

A companion of ``bench/studies/metrics_cost.py`` (bench S2, two processes and the
network stack, where a busy machine's noise is larger than what is
measured). Here one process holds a ``WebSocket`` over a
``socket.socketpair()`` and a raw client end; each round trip is one masked
32-byte text frame in, ``wait()``, ``send()`` back, the 34 bytes read: the
per-message path of S2, without the load generator. Each round is a fresh
child process, alternately with this checkout's django_ws (on) and with the
django_ws of ``--base`` (off, ``git archive`` first on ``PYTHONPATH``);
``time.process_time()`` over ``--trips`` round trips. Bounded in count;
nothing asserts.

``--instructions`` counts instead of timing, which no other job on the
machine can disturb: each build runs under valgrind's callgrind twice, with
``--trips`` and ``--trips`` + 10,000 (same hash seed), and the difference of
the instructions executed, over 10,000, is one round trip's (a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE = "ea127dd"  # the last commit before django_ws.metrics


def child(trips: int) -> None:
    import gc
    import time

    # The "on" build imports django.http (the metrics view) with the
    # connection: import it in both, and freeze the heap, so that neither
    # pays for a bigger heap in its garbage collections (a server has all of
    # Django imported anyway).
    import django.http  # noqa: F401
    from gevent import socket as gsocket

    from django_ws.conf import ConnectionOptions
    from django_ws.connection import WebSocket, open_handshake
    from django_ws.protocol import build_request

    options = ConnectionOptions(compression=None, ping_interval=None)
    headers = [
        ("Host", "127.0.0.1"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    request = build_request("/echo/", headers)
    protocol, response = open_handshake(request, options)
    server_end, client_end = gsocket.socketpair()
    websocket = WebSocket(
        sock=server_end, request=request, protocol=protocol, response=response, options=options
    )
    websocket.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        head += client_end.recv(4096)
    payload = b"x" * 32
    mask = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | 32]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    answer = 2 + 32

    def run(n: int) -> float:
        started = time.process_time()
        for _ in range(n):
            client_end.sendall(frame)
            websocket.send(websocket.wait())
            got = 0
            while got < answer:
                got += len(client_end.recv(answer - got))
        return time.process_time() - started

    run(min(trips, 5000))  # warm-up
    gc.freeze()
    seconds = run(trips)
    print(
        json.dumps(
            {
                "us_per_trip": seconds / trips * 1e6,
                "metrics": os.path.isdir(
                    os.path.join(os.path.dirname(sys.modules["django_ws"].__file__), "metrics")
                ),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="on/off pairs (ABBA order)")
    parser.add_argument("--trips", type=int, default=50_000)
    parser.add_argument("--base", default=BASE)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under callgrind instead of timing",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.trips)
        return
    base = Path(tempfile.mkdtemp(prefix="djws-base-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", args.base, "django_ws"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True, timeout=60)
    roots = {"on": REPO, "off": base}
    if args.instructions:
        instructions(roots, args.trips)
        return
    figures: dict[str, list[float]] = {"on": [], "off": []}
    order = []
    for pair in range(args.rounds):
        order += ["on", "off"] if pair % 2 == 0 else ["off", "on"]
    for n, build in enumerate(order):
        env = {**os.environ, "PYTHONPATH": str(roots[build])}
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--trips", str(args.trips)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["metrics"] == (build == "on"), result  # the right django_ws ran
        figures[build].append(result["us_per_trip"])
        print(f"{n:>2}  {build:<3}  {result['us_per_trip']:.3f} µs per round trip")
    on, off = statistics.median(figures["on"]), statistics.median(figures["off"])
    pairs = [a / b for a, b in zip(figures["on"], figures["off"], strict=True)]
    print(
        f"median on {on:.3f} µs, off {off:.3f} µs: on/off {on / off:.4f} "
        f"(+{(on - off) * 1000:.0f} ns); per pair {', '.join(f'{r:.3f}' for r in pairs)}"
    )


def instructions(roots: dict[str, Path], trips: int) -> None:
    """Instructions per round trip of each build, from two callgrind runs."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    extra = 10_000

    def collected(build: str, n: int) -> int:
        env = {**os.environ, "PYTHONPATH": str(roots[build]), "PYTHONHASHSEED": "0"}
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--child",
                "--trips",
                str(n),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        return int(re.search(r"Collected : (\d+)", out.stderr).group(1))

    jobs = [(build, n) for build in ("on", "off") for n in (trips, trips + extra)]
    with ThreadPoolExecutor(2) as pool:  # two at a time: the machine has two cores
        counts = dict(zip(jobs, pool.map(lambda job: collected(*job), jobs), strict=True))
    per_trip = {
        build: (counts[build, trips + extra] - counts[build, trips]) / extra
        for build in ("on", "off")
    }
    on, off = per_trip["on"], per_trip["off"]
    print(
        f"instructions per round trip: on {on:,.0f}, off {off:,.0f}: "
        f"+{on - off:,.0f} ({(on / off - 1) * 100:+.2f} %)"
    )


if __name__ == "__main__":
    main()
