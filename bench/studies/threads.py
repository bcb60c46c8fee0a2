"""Thread mode (``@require_websocket(threaded=True)``) against greenlet mode, in one run.

    python bench/studies/threads.py [--reps 3] [--out bench/studies/threads.jsonl] [--quick]

Runs with a venv where django_ws is installed (editable) with picows and
uvloop (the load generator, as in bench/client/loadgen.py); it re-executes
itself with ``$BENCH_THREADS_VENV/bin/python`` (default
bench/studies/.threads-venv) when picows is missing. Every server is
``django-admin runws 127.0.0.1:PORT --noreload --no-access-log
--settings=bench_threads.settings`` (bench/servers/threads_project: the bench
project's settings, its own URLconf), started on a free port, pinned, and
stopped by its PID. The load generator is this process, pinned to core 0;
the server shares core 0 ("same", the S1/S5s convention of bench/run.py) or
has core 1 ("split").

The same view code (``_echo``, ``_block`` in bench_threads.views) is served
on a greenlet (``require_websocket``) and on a thread
(``require_websocket(threaded=True)``):

- T1: one connection, closed-loop 32-byte text ping-pong (S1), same core.
- T2: 100 connections, each a closed-loop ping-pong (S2), split.
- T3: RSS per idle connection at 1,000 connections (each view waits in
  ``for message in request.websocket`` after one echo), split.
- T4: connect + one echo + close, sequential (same core) and 20 at a time
  (split).
- T5: the bad neighbour: the T2 load on the greenlet echo, beside one client
  of a view that blocks 300 ms per message in C (``usleep`` via ctypes),
  closed loop; alone, with the blocker on a greenlet, with it on a thread.

Every phase is bounded by time and by count and ends by itself; SIGALRM ends
the whole run past ``--timeout``. Appends one JSON line to ``--out`` and
prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
VENV = os.environ.get("BENCH_THREADS_VENV", os.path.join(HERE, ".threads-venv"))

try:
    import uvloop
    from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
except ImportError:  # re-run with the venv that has them
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.executable) == os.path.realpath(python) or not os.path.exists(python):
        raise
    os.execv(python, [python, *sys.argv])

TEXT, BINARY, CONT, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
now_ns = time.perf_counter_ns
PAYLOAD = b"0123456789abcdef" * 2  # 32 bytes of text
CLIENT_CORE, SERVER_CORE = 0, 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One runws process, pinned to ``cpus``; stopped by its PID."""

    def __init__(self, cpus: set[int], pool: int | None = None) -> None:
        self.port = free_port()
        self.cpus = cpus
        self.pool = pool
        self.log = tempfile.NamedTemporaryFile(prefix="bench_threads_", suffix=".log", delete=False)  # noqa: SIM115  (closed in stop())
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([
            os.path.join(BENCH, "servers", "threads_project"),
            os.path.join(BENCH, "servers", "django_ws_project"),
            ROOT,
        ])
        env.pop("DJANGO_SETTINGS_MODULE", None)
        if pool is not None:
            env["BENCH_THREADS_POOL"] = str(pool)

        def setup() -> None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            os.sched_setaffinity(0, cpus)

        self.process = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "django-admin"), "runws",
             f"127.0.0.1:{self.port}", "--noreload", "--no-access-log",
             "--settings=bench_threads.settings"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=setup, cwd=ROOT,
        )
        self.pid = self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()

    def log_lines(self) -> list[str]:
        with open(self.log.name, errors="replace") as f:
            return f.read().splitlines()

    def cpu(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads

    def status(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise RuntimeError(key)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


async def started(server: Server, path: str, timeout: float = 30.0) -> None:
    """Until one handshake + echo works (the server is up)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError("runws exited:\n" + "\n".join(server.log_lines()[-20:]))
        try:
            await one_cycle(server.url(path), 5.0)
            return
        except (TimeoutError, OSError, ConnectionError, Exception):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def server_problems(server: Server) -> list[str]:
    return [line for line in server.log_lines()
            if any(word in line for word in ("WARNING", "ERROR", "Traceback", "rror"))]


# --------------------------------------------------------------------------- the clients


class Phase:
    """One phase shared by some connections: ends at its deadline or after max_ops."""

    __slots__ = ("deadline", "max_ops", "ops", "lat", "active", "done", "errors")

    def __init__(self, duration: float, max_ops: int, conns: int, record: bool) -> None:
        self.deadline = now_ns() + int(duration * 1e9)
        self.max_ops = max_ops
        self.ops = 0
        self.errors = 0
        self.lat: list[int] | None = [] if record else None
        self.active = conns
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finish_one(self) -> None:
        self.active -= 1
        if self.active <= 0 and not self.done.done():
            self.done.set_result(None)


class Echo(WSListener):
    """Closed loop on one connection: send, wait for the echo, send again."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.phase: Phase | None = None
        self.sent_at = 0
        self.got = 0

    def start(self, phase: Phase) -> None:
        assert self.transport is not None
        self.phase = phase
        self.sent_at = now_ns()
        self.transport.send(TEXT, PAYLOAD)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (TEXT, BINARY, CONT):
            self.got += frame.payload_size
            if not frame.fin:
                return
            size, self.got = self.got, 0
            phase = self.phase
            if phase is None:
                return
            if size != len(PAYLOAD):
                self.lost()
                return
            t = now_ns()
            phase.ops += 1
            if phase.lat is not None:
                phase.lat.append(t - self.sent_at)
            if t < phase.deadline and phase.ops < phase.max_ops:
                self.sent_at = t
                transport.send(TEXT, PAYLOAD)
            else:
                self.phase = None
                phase.finish_one()
        elif frame.msg_type == CLOSE:
            transport.disconnect()

    def lost(self) -> None:
        if self.phase is not None:
            self.phase.errors += 1
            self.phase.finish_one()
            self.phase = None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.lost()


async def open_echoes(url: str, n: int, concurrency: int = 50) -> list[Echo]:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> Echo:
        async with sem:
            _, listener = await ws_connect(Echo, url, websocket_handshake_timeout=30)
            assert isinstance(listener, Echo)
            return listener

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def run_phase(echoes: list[Echo], duration: float, max_ops: int, record: bool,
                    grace: float = 5.0) -> Phase:
    phase = Phase(duration, max_ops, len(echoes), record)
    for echo in echoes:
        echo.start(phase)
    await asyncio.wait_for(phase.done, duration + grace)
    return phase


async def close_all(echoes: list[Echo]) -> None:
    """Drop the connections, and let the loop send the FINs before the server is stopped.

    (Server.stop() blocks this loop: a connection still open then has the
    server wait 10 s for a close handshake this loop cannot answer.)
    """
    for echo in echoes:
        if echo.transport is not None:
            echo.phase = None
            echo.transport.disconnect()
    await asyncio.sleep(0.3)


class OneShot(WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.echoed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == TEXT and frame.fin and not self.echoed.done():
            self.echoed.set_result(None)
        elif frame.msg_type == CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.echoed.done():
            self.echoed.set_exception(ConnectionError("closed before the echo"))


async def one_cycle(url: str, timeout: float) -> None:
    """Handshake, one 32-byte echo, client-initiated close handshake."""
    async with asyncio.timeout(timeout):
        transport, listener = await ws_connect(OneShot, url, websocket_handshake_timeout=timeout)
        assert isinstance(listener, OneShot)
        transport.send(TEXT, PAYLOAD)
        await listener.echoed
        transport.send_close(WSCloseCode.OK)
        await transport.wait_disconnected()


def pct(samples_ns: list[int], scale: float) -> dict[str, float]:
    if not samples_ns:
        return {}
    s = sorted(samples_ns)
    n = len(s)
    return {"p50": s[n // 2] / scale, "p99": s[min(n - 1, (n * 99) // 100)] / scale,
            "max": s[-1] / scale}


# --------------------------------------------------------------------------- the cells


PATHS = {"greenlet": "/ws/echo/", "thread": "/ws/echo-threaded/"}


async def pingpong(mode: str, conns: int, cpus: set[int], pool: int, duration: float,
                   max_ops: int) -> dict[str, Any]:
    """T1/T2: conns closed-loop ping-pongs; server CPU per round trip."""
    server = Server(cpus, pool)
    try:
        await started(server, PATHS[mode])
        echoes = await open_echoes(server.url(PATHS[mode]), conns)
        await run_phase(echoes, 0.5, 200_000, record=False)  # warm-up
        cpu0, t0 = server.cpu(), now_ns()
        phase = await run_phase(echoes, duration, max_ops, record=True)
        elapsed = (now_ns() - t0) / 1e9
        cpu = server.cpu() - cpu0
        threads = server.status("Threads")
        await close_all(echoes)
        lat = pct(phase.lat or [], 1e3)
        return {"ops": phase.ops, "errors": phase.errors, "rate": phase.ops / elapsed,
                "p50_us": lat.get("p50"), "p99_us": lat.get("p99"),
                "server_cpu_us_per_msg": cpu / max(phase.ops, 1) * 1e6,
                "server_cpu_share": cpu / elapsed, "server_threads": threads,
                "problems": server_problems(server)[:5]}
    finally:
        server.stop()


async def idle(mode: str, n: int, pool: int) -> dict[str, Any]:
    """T3: RSS per idle connection; each view waits for its next message."""
    server = Server({SERVER_CORE}, pool)
    try:
        await started(server, PATHS[mode])  # the warm-up: one cycle (a thread made, in thread mode)
        await asyncio.sleep(0.5)
        base, base_threads = server.status("VmRSS"), server.status("Threads")
        t0 = time.perf_counter()
        echoes = await open_echoes(server.url(PATHS[mode]), n)
        phase = await run_phase(echoes, 0.0, n, record=False, grace=60.0)  # one echo each
        fill_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)
        rss, threads = server.status("VmRSS"), server.status("Threads")
        await close_all(echoes)
        return {"conns": n, "errors": phase.errors, "echoed": phase.ops,
                "rss_kib_per_conn": (rss - base) / n, "rss_base_kib": base, "rss_kib": rss,
                "threads_before": base_threads, "threads": threads, "fill_s": fill_s,
                "problems": server_problems(server)[:5]}
    finally:
        server.stop()


async def handshakes(mode: str, concurrency: int, cpus: set[int], pool: int, duration: float,
                     max_ops: int) -> dict[str, Any]:
    """T4: connect + one echo + close, `concurrency` workers."""
    server = Server(cpus, pool)
    try:
        await started(server, PATHS[mode])
        url = server.url(PATHS[mode])

        async def phase(seconds: float, limit: int) -> tuple[list[int], int, str]:
            deadline = now_ns() + int(seconds * 1e9)
            lat: list[int] = []
            errors, last = 0, ""

            async def worker() -> None:
                nonlocal errors, last
                while now_ns() < deadline and len(lat) < limit and errors < 100:
                    t = now_ns()
                    try:
                        await one_cycle(url, 10.0)
                    except Exception as exc:  # counted, not fatal
                        errors += 1
                        last = repr(exc)
                        continue
                    lat.append(now_ns() - t)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return lat, errors, last

        await phase(0.3, 5_000)  # warm-up
        cpu0, t0 = server.cpu(), now_ns()
        lat, errors, last = await phase(duration, max_ops)
        elapsed = (now_ns() - t0) / 1e9
        cpu = server.cpu() - cpu0
        p = pct(lat, 1e6)
        return {"ops": len(lat), "errors": errors, "last_error": last, "rate": len(lat) / elapsed,
                "p50_ms": p.get("p50"), "p99_ms": p.get("p99"),
                "server_cpu_us_per_conn": cpu / max(len(lat), 1) * 1e6,
                "server_threads": server.status("Threads"),
                "problems": server_problems(server)[:5]}
    finally:
        server.stop()


BLOCKERS = {"alone": None, "greenlet": "/ws/block/", "thread": "/ws/block-threaded/"}


async def neighbour(blocker: str, conns: int, duration: float, block_ms: int) -> dict[str, Any]:
    """T5: `conns` echo clients, beside one client of a view blocking block_ms in C per message."""
    server = Server({SERVER_CORE})  # WEBSOCKET_THREADS at its default, 32
    try:
        await started(server, PATHS["greenlet"])
        echoes = await open_echoes(server.url(PATHS["greenlet"]), conns)
        path = BLOCKERS[blocker]
        slow: list[Echo] = []
        if path is not None:
            slow = await open_echoes(server.url(f"{path}?ms={block_ms}"), 1)
            await run_phase(slow, 0.0, 1, record=False, grace=5.0)  # one blocked round trip
        await run_phase(echoes, 0.5, 200_000, record=False)  # warm-up, the blocker idle
        cpu0, t0 = server.cpu(), now_ns()
        slow_phase = Phase(duration, 10_000, 1, record=True)
        for s in slow:
            s.start(slow_phase)
        phase = await run_phase(echoes, duration, 4_000_000, record=True, grace=5.0)
        elapsed = (now_ns() - t0) / 1e9
        cpu = server.cpu() - cpu0
        if slow:
            await asyncio.wait_for(slow_phase.done, block_ms / 1000 * 2 + 5.0)
        await close_all(echoes + slow)
        lat = pct(phase.lat or [], 1e3)
        slow_lat = pct(slow_phase.lat or [], 1e3)
        return {"ops": phase.ops, "errors": phase.errors, "rate": phase.ops / elapsed,
                "p50_us": lat.get("p50"), "p99_us": lat.get("p99"), "max_us": lat.get("max"),
                "server_cpu_us_per_msg": cpu / max(phase.ops, 1) * 1e6,
                "blocker_ops": slow_phase.ops if slow else None,
                "blocker_p50_ms": slow_lat["p50"] / 1e3 if slow_lat else None,
                "blocker_max_ms": slow_lat["max"] / 1e3 if slow_lat else None,
                "problems": server_problems(server)[:5]}
    finally:
        server.stop()


# --------------------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("django-websocket-views", "Django", "gevent", "greenlet", "websockets",
                 "picows", "uvloop"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), "versions": versions, "commit": commit}


async def run(args: argparse.Namespace, results: dict[str, Any]) -> None:
    short = args.quick
    d1, d2, d4, d5 = (1.5, 2.0, 1.5, 3.0) if short else (3.0, 4.0, 2.5, 6.0)
    cells: list[tuple[str, str, Callable[[], Any]]] = []
    for mode in ("greenlet", "thread"):
        cells.append(("T1", mode, lambda m=mode: pingpong(m, 1, {CLIENT_CORE}, 128, d1, 1_000_000)))
        cells.append(("T2", mode, lambda m=mode: pingpong(m, 100, {SERVER_CORE}, 128, d2, 4_000_000)))
        cells.append(("T3", mode, lambda m=mode: idle(m, args.idle, args.idle + 100)))
        cells.append(("T4s", mode, lambda m=mode: handshakes(m, 1, {CLIENT_CORE}, 128, d4, 50_000)))
        cells.append(("T4p", mode, lambda m=mode: handshakes(m, 20, {SERVER_CORE}, 128, d4, 100_000)))
    for blocker in ("alone", "greenlet", "thread"):
        cells.append(("T5", blocker, lambda b=blocker: neighbour(b, 100, d5, 300)))
    for rep in range(args.reps):
        for name, label, make in cells:  # alternating: the figures of a cell spread over the run
            if args.cells and name not in args.cells:
                continue
            t = time.perf_counter()
            try:
                figures = await make()
            except Exception as exc:  # one failed cell must not lose the others
                figures = {"error": repr(exc)}
            figures["rep"] = rep
            results["cells"].setdefault(f"{name}/{label}", []).append(figures)
            brief = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()
                     if k != "problems"}
            print(f"[{time.perf_counter() - t:5.1f}s] {name}/{label} rep {rep}: {brief}",
                  file=sys.stderr, flush=True)
            if figures.get("problems"):
                print("   server log:", figures["problems"], file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the report


def fmt(values: list[float], digits: int = 1, scale: float = 1.0) -> str:
    """Median, then the spread (min-max) of the repetitions."""
    vals = [v * scale for v in values if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(vals):,.{digits}f}-{max(vals):,.{digits}f})"


def col(results: dict[str, Any], cell: str, key: str) -> list[float]:
    return [r[key] for r in results["cells"].get(cell, []) if key in r and r[key] is not None]


def med(results: dict[str, Any], cell: str, key: str) -> float | None:
    vals = col(results, cell, key)
    return statistics.median(vals) if vals else None


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"Run {results['when']}, {m['nproc']} cores ({m['cpu_model']}), Linux {m['kernel']}, "
        f"Python {m['python']}, django_ws {m['commit']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if k != "django-websocket-views")
        + f". `{results['command']}`. {results['reps']} repetitions per cell, alternating; "
        "median (min-max).",
        "",
        "| cell | greenlet | thread | thread − greenlet |",
        "|---|---|---|---|",
    ]

    def row(label: str, cell: str, key: str, digits: int = 1, scale: float = 1.0,
            diff: bool = True) -> None:
        g, t = col(results, f"{cell}/greenlet", key), col(results, f"{cell}/thread", key)
        d = "-"
        if diff and g and t:
            d = f"{(statistics.median(t) - statistics.median(g)) * scale:+,.{digits}f}"
            d += f" ({statistics.median(t) / statistics.median(g):.2f}x)"
        out.append(f"| {label} | {fmt(g, digits, scale)} | {fmt(t, digits, scale)} | {d} |")

    row("T1 1 conn ping-pong: server CPU µs/msg", "T1", "server_cpu_us_per_msg")
    row("T1 round trips/s", "T1", "rate", 0)
    row("T1 p50 µs", "T1", "p50_us")
    row("T1 p99 µs", "T1", "p99_us")
    row("T2 100 conns ping-pong: server CPU µs/msg", "T2", "server_cpu_us_per_msg")
    row("T2 msgs/s", "T2", "rate", 0)
    row("T2 p50 µs", "T2", "p50_us")
    row("T2 p99 µs", "T2", "p99_us")
    row("T2 server threads (from /proc)", "T2", "server_threads", 0)
    row("T3 RSS KiB per idle conn (1,000)", "T3", "rss_kib_per_conn")
    row("T3 server threads at 1,000", "T3", "threads", 0)
    row("T3 time to open 1,000 + one echo each, s", "T3", "fill_s", 2)
    row("T4s handshakes/s, sequential", "T4s", "rate", 0)
    row("T4s p50 ms per cycle", "T4s", "p50_ms", 2)
    row("T4s server CPU µs per connection", "T4s", "server_cpu_us_per_conn", 0)
    row("T4p handshakes/s, 20 at a time", "T4p", "rate", 0)
    row("T4p p99 ms per cycle", "T4p", "p99_ms", 2)
    row("T4p server CPU µs per connection", "T4p", "server_cpu_us_per_conn", 0)
    errs = {c: sum(r.get("errors", 0) or 0 for r in rs) + sum("error" in r for r in rs)
            for c, rs in results["cells"].items()}
    out += ["", "Errors (failed round trips, handshakes or cells), all repetitions: "
            + ", ".join(f"{c} {n}" for c, n in sorted(errs.items())) + ".", ""]

    out += ["| T5: 100 echo clients (greenlet view) | alone | + blocker on a greenlet "
            "| + blocker on a thread |", "|---|---|---|---|"]
    for label, key, digits, scale in (
        ("msgs/s", "rate", 0, 1.0), ("p50 ms", "p50_us", 3, 1e-3), ("p99 ms", "p99_us", 3, 1e-3),
        ("max ms", "max_us", 1, 1e-3), ("server CPU µs/msg", "server_cpu_us_per_msg", 1, 1.0),
        ("blocker's round trips in the phase", "blocker_ops", 0, 1.0),
        ("blocker's p50 ms per round trip", "blocker_p50_ms", 1, 1.0),
    ):
        out.append(f"| {label} | " + " | ".join(
            fmt(col(results, f"T5/{b}", key), digits, scale) for b in BLOCKERS) + " |")
    alone, thread = med(results, "T5/alone", "p99_us"), med(results, "T5/thread", "p99_us")
    if alone and thread:
        ratio = thread / alone
        out += ["", f"Goal: with the blocker on a thread, the others' p99 within 2x of their "
                f"p99 alone: {thread / 1e3:.3f} ms vs {alone / 1e3:.3f} ms = {ratio:.2f}x, "
                f"{'met' if ratio <= 2 else 'NOT met'} (medians of the repetitions). Per "
                "repetition: " + ", ".join(
                    f"{t / a:.2f}x" for t, a in zip(col(results, 'T5/thread', 'p99_us'),
                                                     col(results, 'T5/alone', 'p99_us'), strict=False)) + "."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--idle", type=int, default=1000, help="T3's connections")
    parser.add_argument("--quick", action="store_true", help="shorter phases")
    parser.add_argument("--cells", default="", help="only these, e.g. T1,T5")
    parser.add_argument("--out", default=os.path.join(HERE, "threads.jsonl"))
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--timeout", type=int, default=1500, help="SIGALRM: the whole run, s")
    parser.add_argument("--render", action="store_true", help="only print the last saved run")
    args = parser.parse_args()
    args.cells = set(filter(None, args.cells.split(",")))
    if args.render:
        with open(args.out) as f:
            print(render(json.loads(f.read().splitlines()[-1])))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {CLIENT_CORE})

    def too_long(signum: int, frame: Any) -> None:
        raise SystemExit(f"bench/studies/threads.py: past --timeout {args.timeout} s")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.timeout)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python " + " ".join(["bench/studies/threads.py", *sys.argv[1:]]),
        "reps": args.reps, "machine": machine(), "cells": {},
    }
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run(args, results))
    signal.alarm(0)
    if not args.no_save:
        with open(args.out, "a") as out:
            out.write(json.dumps(results) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
