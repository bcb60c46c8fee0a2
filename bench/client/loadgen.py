"""Load generator: picows (Cython WebSocket framing) on uvloop, callback-driven.

One process runs one scenario against one server and talks to the
orchestrator (harness.trial) over its pipes:

  stdout  "MARK <name>"    the orchestrator snapshots the server's /proc stats,
  stdin   "<any line>"     ...then answers, and the client goes on;
  stdout  "RESULT <json>"  last line: the measured figures, or {"error": ...}.

Every phase is bounded by a deadline and an operation count, and SIGALRM
(spec["hard_timeout"]) ends the process if anything hangs anyway.

Usage: loadgen.py '<json spec>'   (built by harness.scenarios)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

now_ns = time.perf_counter_ns
TEXT, BINARY, CONT, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
MAX_FRAME = 32 * 1024 * 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def mark(name: str) -> None:
    """Let the orchestrator snapshot the server at this exact point."""
    print(f"MARK {name}", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("orchestrator went away")


def percentiles(samples_ns: list[int], scale: float) -> dict[str, float]:
    if not samples_ns:
        return {}
    samples_ns.sort()
    n = len(samples_ns)
    return {
        "p50": samples_ns[n // 2] / scale,
        "p99": samples_ns[min(n - 1, (n * 99) // 100)] / scale,
        "max": samples_ns[-1] / scale,
        "mean": sum(samples_ns) / n / scale,
    }


# --------------------------------------------------------------------------- ping-pong


class Phase:
    """One warm-up or measured phase shared by all connections of a ping-pong run."""

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


class EchoDriver:
    """Closed loop for one connection: send, wait for the whole echo, send again."""

    __slots__ = ("send", "phase", "sent_at")

    def __init__(self, send: Callable[[], None]) -> None:
        self.send = send
        self.phase: Phase | None = None
        self.sent_at = 0

    def start(self, phase: Phase) -> None:
        self.phase = phase
        self.sent_at = now_ns()
        self.send()

    def complete(self) -> None:
        phase = self.phase
        if phase is None:
            return
        t = now_ns()
        phase.ops += 1
        if phase.lat is not None:
            phase.lat.append(t - self.sent_at)
        if t < phase.deadline and phase.ops < phase.max_ops:
            self.sent_at = t
            self.send()
        else:
            self.phase = None
            phase.finish_one()

    def lost(self) -> None:
        if self.phase is not None:
            self.phase.errors += 1
            self.phase.finish_one()
            self.phase = None


class WSEcho(WSListener):
    def __init__(self, payload: bytes, binary: bool) -> None:
        super().__init__()
        self.payload = payload
        self.size = len(payload)
        self.msg_type = BINARY if binary else TEXT
        self.got = 0
        self.transport: WSTransport | None = None
        self.driver = EchoDriver(self._send)

    def _send(self) -> None:
        assert self.transport is not None
        self.transport.send(self.msg_type, self.payload)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type in (TEXT, BINARY, CONT):
            # picows hands over frames, not messages: count bytes until FIN.
            self.got += frame.payload_size
            if frame.fin:
                if self.got != self.size:
                    self.driver.lost()  # a wrong-sized echo is an error, not a round trip
                    transport.disconnect()
                    return
                self.got = 0
                self.driver.complete()
        elif msg_type == CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.driver.lost()


class TCPEcho(asyncio.Protocol):
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.size = len(payload)
        self.got = 0
        self.transport: asyncio.Transport | None = None
        self.driver = EchoDriver(self._send)

    def _send(self) -> None:
        assert self.transport is not None
        self.transport.write(self.payload)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= self.size:
            self.got -= self.size
            self.driver.complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver.lost()


def make_payload(size: int, binary: bool) -> bytes:
    # Text must be valid UTF-8; binary is random so nothing can shortcut it.
    return os.urandom(size) if binary else (b"0123456789abcdef" * (size // 16 + 1))[:size]


async def gather_bounded(factories: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run coroutine factories with at most `limit` in flight (keeps SYN bursts small)."""
    sem = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            try:
                return await factory()
            except Exception as exc:  # reported as a connect error, not a crash
                return exc

    return await asyncio.gather(*(one(f) for f in factories))


async def run_pingpong(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port, conns = spec["host"], spec["port"], spec["conns"]
    payload = make_payload(spec["size"], spec["binary"])
    url = f"ws://{host}:{port}{spec['path']}"

    if spec["transport"] == "tcp":
        async def connect() -> EchoDriver:
            _, proto = await loop.create_connection(lambda: TCPEcho(payload), host, port)
            return proto.driver
    else:
        async def connect() -> EchoDriver:
            _, listener = await ws_connect(
                lambda: WSEcho(payload, spec["binary"]), url,
                max_frame_size=MAX_FRAME, websocket_handshake_timeout=10,
            )
            assert isinstance(listener, WSEcho)
            return listener.driver

    results = await gather_bounded([connect] * conns, spec["connect_concurrency"])
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        return {"error": f"{len(errors)}/{conns} connections failed: {errors[0]!r}"}
    drivers: list[EchoDriver] = results

    async def phase(duration: float, max_ops: int, record: bool) -> Phase:
        ph = Phase(duration, max_ops, len(drivers), record)
        for d in drivers:
            d.start(ph)
        # Bounded even if a server stops answering: deadline + grace.
        await asyncio.wait_for(ph.done, duration + spec["grace"])
        return ph

    await phase(spec["warmup"], spec["warmup_ops"], record=False)
    await mark("start")
    cpu0, t0 = cpu_seconds(), now_ns()
    try:
        ph = await phase(spec["duration"], spec["max_ops"], record=True)
    except TimeoutError:
        return {"error": "server stopped answering during the measured phase"}
    elapsed = (now_ns() - t0) / 1e9
    cpu = cpu_seconds() - cpu0
    await mark("stop")
    lat = percentiles(ph.lat or [], 1e3)
    return {
        "ops": ph.ops,
        "elapsed_s": elapsed,
        "rate": ph.ops / elapsed,
        "mib_s": ph.ops * len(payload) / elapsed / 2**20,
        "p50_us": lat.get("p50"),
        "p99_us": lat.get("p99"),
        "mean_us": lat.get("mean"),
        "errors": ph.errors,
        "client_cpu_s": cpu,
    }


# --------------------------------------------------------------------------- flood (S7)

FLOODER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flooder.py")


async def bounded_phase(drivers: list[EchoDriver], duration: float, max_ops: int, grace: float) -> tuple[Phase, int]:
    """A measured ping-pong phase that ends even if the server starves some clients.

    Past the deadline + ``grace``, a connection still waiting for its echo
    counts its wait so far as one (censored) latency sample and leaves the
    phase: a starved client shows in the p99 instead of failing the trial.
    """
    ph = Phase(duration, max_ops, len(drivers), True)
    for d in drivers:
        d.start(ph)
    stalled = 0
    try:
        await asyncio.wait_for(asyncio.shield(ph.done), duration + grace)
    except TimeoutError:
        t = now_ns()
        for d in drivers:
            if d.phase is ph:
                assert ph.lat is not None
                ph.lat.append(t - d.sent_at)
                d.phase = None
                stalled += 1
    return ph, stalled


async def read_child_line(proc: asyncio.subprocess.Process, timeout: float) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        raise ConnectionError("the flooder exited")
    return line.decode().strip()


async def tell_child(proc: asyncio.subprocess.Process, text: str) -> None:
    assert proc.stdin is not None
    # A flooder that already ended (its deadline) has closed its pipe: nothing to tell.
    with contextlib.suppress(ConnectionError, RuntimeError):
        proc.stdin.write(text.encode() + b"\n")
        await proc.stdin.drain()


async def run_flood(spec: dict[str, Any]) -> dict[str, Any]:
    """S7: S2's 100 echo clients alone, then next to one flooding client, on one server process.

    Marks: start/stop bracket the phase alone, fstart/fstop the phase under
    flood. The flooder (flooder.py) is a child process on this core, below the
    echo clients in priority (``flood_nice``): it connects before the phase
    alone and idles through it, starts at "go" and is stopped after fstop.
    """
    host, port, conns = spec["host"], spec["port"], spec["conns"]
    payload = make_payload(spec["size"], spec["binary"])
    url = f"ws://{host}:{port}{spec['path']}"

    async def connect() -> EchoDriver:
        _, listener = await ws_connect(
            lambda: WSEcho(payload, spec["binary"]), url, max_frame_size=MAX_FRAME, websocket_handshake_timeout=10,
        )
        assert isinstance(listener, WSEcho)
        return listener.driver

    results = await gather_bounded([connect] * conns, spec["connect_concurrency"])
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        return {"error": f"{len(errors)}/{conns} connections failed: {errors[0]!r}"}
    drivers: list[EchoDriver] = results

    fspec = {
        "host": host, "port": port, "path": spec["path"], "variant": spec["variant"],
        # The flooder's own bounds: its phase, plus the longest the phase may overrun.
        "flood_s": spec["duration"] + spec["flood_grace"] + 5.0, "max_bytes": spec["max_flood_bytes"],
        "nice": spec["flood_nice"], "hard_timeout": spec["hard_timeout"],
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, FLOODER, json.dumps(fspec),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    try:
        ready = await read_child_line(proc, 15.0)
        if ready != "READY":
            return {"error": f"flooder: {ready[:300]}"}

        await bounded_phase(drivers, spec["warmup"], spec["warmup_ops"], spec["grace"])
        await mark("start")
        cpu0, t0 = cpu_seconds(), now_ns()
        alone, stalled_alone = await bounded_phase(drivers, spec["duration"], spec["max_ops"], spec["grace"])
        elapsed = (now_ns() - t0) / 1e9
        cpu_alone = cpu_seconds() - cpu0
        await mark("stop")

        await tell_child(proc, "go")
        line = await read_child_line(proc, 10.0)
        if not line.startswith("FLOODING "):
            return {"error": f"flooder did not start: {line[:300]}"}
        flood_cpu0 = json.loads(line.split(" ", 1)[1])["cpu_s"]
        await mark("fstart")
        cpu0, t0 = cpu_seconds(), now_ns()
        flood, stalled = await bounded_phase(drivers, spec["duration"], spec["max_ops"], spec["flood_grace"])
        f_elapsed = (now_ns() - t0) / 1e9
        cpu_flood = cpu_seconds() - cpu0
        await mark("fstop")
        await tell_child(proc, "stop")
        fres: dict[str, Any] = {}
        for _ in range(3):  # RESULT is the last line; a stray line before it is skipped
            line = await read_child_line(proc, 10.0)
            if line.startswith("RESULT "):
                fres = json.loads(line[len("RESULT "):])
                break
        if not fres:
            return {"error": "the flooder gave no result"}
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # our own child, by its PID
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)

    la, lf = percentiles(alone.lat or [], 1e3), percentiles(flood.lat or [], 1e3)
    res: dict[str, Any] = {
        "ops": alone.ops, "elapsed_s": elapsed, "rate": alone.ops / elapsed,
        "p50_us": la.get("p50"), "p99_us": la.get("p99"), "max_us": la.get("max"),
        "errors": alone.errors, "stalled": stalled_alone, "client_cpu_s": cpu_alone,
        "f_ops": flood.ops, "f_elapsed_s": f_elapsed, "f_rate": flood.ops / f_elapsed,
        "f_p50_us": lf.get("p50"), "f_p99_us": lf.get("p99"), "f_max_us": lf.get("max"),
        "f_errors": flood.errors, "f_stalled": stalled, "f_client_cpu_s": cpu_flood,
        "flooder": fres,
        # The flooder's CPU from its first write to its stop (about fstart..fstop).
        "flooder_cpu_s": max(fres.get("cpu_end_s", flood_cpu0) - flood_cpu0, 0.0),
    }
    if "error" in fres:
        res["error"] = f"flooder: {fres['error']}"
    return res


# --------------------------------------------------------------------------- broadcast


class BroadcastState:
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready = 0
        self.ready_target = 0
        self.all_ready: asyncio.Future[None] = loop.create_future()
        self.expect = 0
        self.arrivals: list[int] = []
        self.all_received: asyncio.Future[None] = loop.create_future()
        self.lost = 0

    def on_ready(self) -> None:
        self.ready += 1
        if self.ready >= self.ready_target and not self.all_ready.done():
            self.all_ready.set_result(None)

    def on_message(self) -> None:
        self.arrivals.append(now_ns())
        if len(self.arrivals) >= self.expect and not self.all_received.done():
            self.all_received.set_result(None)


class WSMember(WSListener):
    """An idle broadcast member: the first text is the server's "ready", the next is the broadcast."""

    def __init__(self, state: BroadcastState) -> None:
        super().__init__()
        self.state = state
        self.seen = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == TEXT:
            self.seen += 1
            if self.seen == 1:
                self.state.on_ready()
            elif self.seen == 2:
                self.state.on_message()
        elif msg_type == CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.state.lost += 1


async def http_post(host: str, port: int, path: str, timeout: float) -> tuple[int, float]:
    """Minimal HTTP/1.1 POST with an empty body; returns (status, seconds)."""
    t0 = now_ns()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\n"
            f"Connection: close\r\n\r\n".encode()
        )
        status_line = await reader.readline()
        writer.close()
    status = int(status_line.split()[1]) if status_line.startswith(b"HTTP/") else 0
    return status, (now_ns() - t0) / 1e9


async def open_members(spec: dict[str, Any], state: BroadcastState, n: int) -> tuple[list[WSTransport], int, float]:
    url = f"ws://{spec['host']}:{spec['port']}{spec['path']}"
    state.ready_target = state.ready + n

    async def connect() -> WSTransport:
        transport, _ = await ws_connect(lambda: WSMember(state), url, websocket_handshake_timeout=10)
        return transport

    t0 = now_ns()
    results = await gather_bounded([connect] * n, spec["connect_concurrency"])
    transports = [r for r in results if isinstance(r, WSTransport)]
    errors = n - len(transports)
    if errors:
        state.ready_target -= errors  # don't wait for members that never connected
    if state.ready < state.ready_target:
        with contextlib.suppress(TimeoutError):  # go on with the members that made it
            await asyncio.wait_for(asyncio.shield(state.all_ready), spec["connect_timeout"])
    return transports, errors, (now_ns() - t0) / 1e9


async def broadcast_once(spec: dict[str, Any], state: BroadcastState, tag: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    state.arrivals = []
    state.expect = state.ready
    state.all_received = loop.create_future()
    t0 = now_ns()
    status, http_s = await http_post(spec["host"], spec["port"], f"{spec['trigger']}?msg={tag}", spec["bcast_timeout"])
    with contextlib.suppress(TimeoutError):  # a partial delivery is reported, not raised
        await asyncio.wait_for(asyncio.shield(state.all_received), spec["bcast_timeout"])
    arrivals = [a - t0 for a in state.arrivals]
    lat = percentiles(arrivals, 1e6)
    return {
        "http_status": status,
        "http_ms": http_s * 1e3,
        "received": len(arrivals),
        "expected": state.expect,
        "first_ms": min(arrivals) / 1e6 if arrivals else None,
        "p50_ms": lat.get("p50"),
        "last_ms": lat.get("max"),
    }


async def run_broadcast(spec: dict[str, Any]) -> dict[str, Any]:
    # Warm-up: lazy imports, URL resolver and the broadcast view's first call
    # happen here, not inside the RSS/latency window.
    warm = BroadcastState()
    transports, errors, _ = await open_members(spec, warm, spec["warmup_conns"])
    if errors or warm.ready < spec["warmup_conns"]:
        return {"error": f"warm-up: {errors} connect errors, {warm.ready} ready"}
    first = await broadcast_once(spec, warm, "warmup")
    if first["http_status"] != 200 or first["received"] < warm.ready:
        return {"error": f"warm-up broadcast failed: {first}"}
    for t in transports:
        t.send_close(WSCloseCode.OK)
    await asyncio.sleep(spec["settle"])

    state = BroadcastState()
    await mark("before")
    cpu0 = cpu_seconds()
    transports, errors, connect_s = await open_members(spec, state, spec["conns"])
    await asyncio.sleep(spec["settle"])  # let the server finish per-connection bookkeeping
    await mark("after")
    res = await broadcast_once(spec, state, "bench" + "x" * 27)
    await mark("bcast")
    res.update(
        {
            "conns": state.ready,
            "connect_errors": errors,
            "connect_s": connect_s,
            "lost": state.lost,
            "client_cpu_s": cpu_seconds() - cpu0,
        }
    )
    if state.ready == 0:
        res["error"] = f"no member became ready ({errors} connect errors)"
    elif res["received"] < res["expected"]:
        res["error"] = f"broadcast reached {res['received']}/{res['expected']} members"
    for t in transports:
        t.disconnect(graceful=False)
    return res


# --------------------------------------------------------------------------- connect + echo + close


class OneShot(WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.echoed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == TEXT and frame.fin and not self.echoed.done():
            self.echoed.set_result(None)
        elif msg_type == CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.echoed.done():
            self.echoed.set_exception(ConnectionError("closed before the echo"))


class TCPOneShot(asyncio.Protocol):
    def __init__(self, size: int) -> None:
        loop = asyncio.get_running_loop()
        self.size, self.got = size, 0
        self.echoed: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= self.size and not self.echoed.done():
            self.echoed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.echoed.done():
            self.echoed.set_exception(ConnectionError("closed before the echo"))
        if not self.closed.done():
            self.closed.set_result(None)


async def run_connect(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port = spec["host"], spec["port"]
    payload = make_payload(spec["size"], False)
    url = f"ws://{host}:{port}{spec['path']}"
    cycle_timeout = spec["cycle_timeout"]

    async def cycle_ws() -> None:
        async with asyncio.timeout(cycle_timeout):
            transport, listener = await ws_connect(OneShot, url, websocket_handshake_timeout=cycle_timeout)
            assert isinstance(listener, OneShot)
            transport.send(TEXT, payload)
            await listener.echoed
            # Client-initiated close handshake; the server answers and drops TCP.
            transport.send_close(WSCloseCode.OK)
            await transport.wait_disconnected()

    async def cycle_tcp() -> None:
        async with asyncio.timeout(cycle_timeout):
            transport, proto = await loop.create_connection(lambda: TCPOneShot(len(payload)), host, port)
            transport.write(payload)
            await proto.echoed
            transport.close()
            await proto.closed

    cycle = cycle_tcp if spec["transport"] == "tcp" else cycle_ws

    async def phase(duration: float, max_ops: int) -> tuple[int, int, list[int], str]:
        deadline = now_ns() + int(duration * 1e9)
        lat: list[int] = []
        errors = 0
        last_error = ""

        async def worker() -> None:
            nonlocal errors, last_error
            while now_ns() < deadline and len(lat) < max_ops and errors < spec["max_errors"]:
                t = now_ns()
                try:
                    await cycle()
                except Exception as exc:  # counted; a few stragglers must not abort the run
                    errors += 1
                    last_error = repr(exc)
                    continue
                lat.append(now_ns() - t)

        await asyncio.gather(*(worker() for _ in range(spec["conns"])))
        return len(lat), errors, lat, last_error

    await phase(spec["warmup"], spec["warmup_ops"])
    await mark("start")
    cpu0, t0 = cpu_seconds(), now_ns()
    ops, errors, lat, last_error = await phase(spec["duration"], spec["max_ops"])
    elapsed = (now_ns() - t0) / 1e9
    cpu = cpu_seconds() - cpu0
    await mark("stop")
    pct = percentiles(lat, 1e6)
    res: dict[str, Any] = {
        "ops": ops,
        "elapsed_s": elapsed,
        "rate": ops / elapsed,
        "p50_ms": pct.get("p50"),
        "p99_ms": pct.get("p99"),
        "errors": errors,
        "client_cpu_s": cpu,
    }
    if errors >= spec["max_errors"] or ops == 0:
        res["error"] = f"{errors} failed cycles, last: {last_error}"
    return res


# --------------------------------------------------------------------------- scale (S6)


class ScaleMember(WSListener):
    """An idle member for S6: the first text is "ready", every later one a broadcast (timestamped)."""

    def __init__(self, state: ScaleState) -> None:
        super().__init__()
        self.state = state
        self.seen = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == TEXT:
            self.seen += 1
            if self.seen == 1:
                self.state.on_ready()
            else:
                self.state.on_message()
        elif msg_type == CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.state.lost += 1


class ScaleState:
    def __init__(self) -> None:
        self.ready = 0
        self.lost = 0
        self.wait_ready = 0
        self.ready_event = asyncio.Event()
        self.arrivals: list[int] = []
        self.expect = 0
        self.received_event = asyncio.Event()

    def on_ready(self) -> None:
        self.ready += 1
        if self.ready >= self.wait_ready:
            self.ready_event.set()

    def on_message(self) -> None:
        self.arrivals.append(now_ns())
        if len(self.arrivals) >= self.expect:
            self.received_event.set()


def source_socket_factory(sources: list[str]) -> Callable[[Any], Any]:
    """Bind each client socket to the next source address before connecting.

    With one source address the 4-tuples to one server port run out at the
    ephemeral range (~28 k); 127.0.0.1-127.0.0.8 gives 8x as many.
    IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), so a port is
    only needed unique per (source, destination).
    """
    import itertools
    import socket

    cycle = itertools.cycle(sources)
    no_port = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

    def factory(_url: Any) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, no_port, 1)
            sock.bind((next(cycle), 0))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    return factory


async def read_command() -> dict[str, Any]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("orchestrator went away")
    return dict(json.loads(line))


def reply(obj: dict[str, Any]) -> None:
    print("REPLY " + json.dumps(obj), flush=True)


async def run_scale(spec: dict[str, Any]) -> dict[str, Any]:
    """S6: one of possibly several client processes. The orchestrator drives the steps:

      {"cmd": "fill", "n": K}        open K more members, wait until each said "ready"
      {"cmd": "arm"}                 expect one broadcast on every live member
      {"cmd": "collect"}             wait for it (bounded), report the arrival times
      {"cmd": "quit"}                end (the RESULT line follows)

    Every command is answered with one "REPLY <json>" line. Each command is
    bounded in time (connect_timeout, bcast_timeout) and the whole process by
    SIGALRM (hard_timeout); the number of members is bounded by the fills.
    """
    url = f"ws://{spec['host']}:{spec['port']}{spec['path']}"
    factory = source_socket_factory(spec["sources"])
    state = ScaleState()
    transports: list[WSTransport] = []
    total_errors = 0
    last_error = ""
    max_members = int(spec["max_members"])

    async def connect() -> WSTransport:
        transport, _ = await ws_connect(
            lambda: ScaleMember(state), url, websocket_handshake_timeout=spec["handshake_timeout"],
            socket_factory=factory, read_buffer_init_size=1024,
        )
        return transport

    for _ in range(int(spec["max_commands"])):
        cmd = await read_command()
        what = cmd["cmd"]
        if what == "fill":
            n = min(int(cmd["n"]), max_members - len(transports))
            state.wait_ready = state.ready + n
            state.ready_event = asyncio.Event()
            cpu0, t0 = cpu_seconds(), now_ns()
            results = await gather_bounded([connect] * n, spec["connect_concurrency"])
            new = [r for r in results if isinstance(r, WSTransport)]
            errors = [r for r in results if not isinstance(r, WSTransport)]
            transports.extend(new)
            total_errors += len(errors)
            if errors:
                last_error = repr(errors[-1])
                state.wait_ready -= len(errors)
            if state.ready < state.wait_ready:
                with contextlib.suppress(TimeoutError):  # report the members that made it
                    await asyncio.wait_for(state.ready_event.wait(), spec["connect_timeout"])
            reply({"ready": state.ready, "added": len(new), "errors": len(errors), "last_error": last_error,
                   "lost": state.lost, "t0": t0, "t1": now_ns(), "cpu_s": cpu_seconds() - cpu0})
        elif what == "arm":
            state.arrivals = []
            state.received_event = asyncio.Event()
            state.expect = state.ready - state.lost
            reply({"expect": state.expect, "cpu_s": cpu_seconds()})
        elif what == "collect":
            if len(state.arrivals) < state.expect:
                with contextlib.suppress(TimeoutError):  # a partial delivery is reported, not raised
                    await asyncio.wait_for(state.received_event.wait(), spec["bcast_timeout"])
            reply({"arrivals": state.arrivals, "expect": state.expect, "lost": state.lost,
                   "cpu_s": cpu_seconds()})
        elif what == "quit":
            break
    for t in transports:
        t.disconnect(graceful=False)
    return {"members": len(transports), "ready": state.ready, "lost": state.lost, "errors": total_errors}


# --------------------------------------------------------------------------- main

RUNNERS: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "pingpong": run_pingpong,
    "broadcast": run_broadcast,
    "connect": run_connect,
    "scale": run_scale,
    "flood": run_flood,
}


async def amain(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        return await RUNNERS[spec["kind"]](spec)
    except Exception as exc:
        return {"error": f"client: {exc!r}"}


def main() -> None:
    spec = json.loads(sys.argv[1])
    # Last-resort bound: the default SIGALRM action ends the process.
    signal.alarm(int(spec["hard_timeout"]))
    result = uvloop.run(amain(spec))
    print("RESULT " + json.dumps(result), flush=True)
    # Skip interpreter teardown (thousands of transports in S4); the OS closes the sockets.
    os._exit(0)


if __name__ == "__main__":
    main()
