"""One trial = fresh server + one load-generator process + /proc snapshots at its marks.

A fresh server per trial keeps trials independent: S4's RSS delta is not
flattered by memory an earlier scenario left in the allocator, and a crash
costs one trial, not the run.
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import procs
from .scenarios import Scenario, Snapshot
from .servers import BENCH, Server

LOADGEN = BENCH / "client" / "loadgen.py"
START_TIMEOUT = 30.0


@dataclass
class Placement:
    server: set[int]
    client: set[int]


def placements() -> dict[str, Placement]:
    """Core sets for "same" and "split". With one usable core both are the same."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        one = {cores[0]}
        return {"same": Placement(one, one), "split": Placement(one, one)}
    # Same-core runs use the second core, leaving core 0 to the orchestrator and the OS.
    return {
        "same": Placement({cores[1]}, {cores[1]}),
        "split": Placement({cores[0]}, {cores[1]}),
    }


class ServerProcess:
    """A started server; use as a context manager so it is always stopped by PID."""

    def __init__(
        self, server: Server, cpus: set[int] | None, log_path: Path, watch: set[int] | None = None,
        nofile: int | None = None,
    ) -> None:
        self.server = server
        # Cores whose busy time is compared with server + client CPU (noise check).
        self.watch = watch or set(os.sched_getaffinity(0))
        self.port = procs.free_port()
        self.log_path = log_path
        self.proc = procs.spawn(
            server.command(self.port), env=server.env, cwd=server.cwd, cpus=cpus, log_path=log_path,
            nofile=nofile,
        )

    def wait_ready(self) -> str | None:
        err = procs.wait_port(self.proc, self.port, START_TIMEOUT)
        if err:
            tail = procs.log_tail(self.log_path)
            return f"{err}" + (f": {tail}" if tail else "")
        return None

    def snapshot(self) -> Snapshot:
        return {
            "t": time.monotonic(),
            "cpu": procs.cpu_seconds(self.proc.pid),
            "rss": float(procs.rss_kib(self.proc.pid)),
            "busy": procs.busy_seconds(self.watch),
        }

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        procs.stop(self.proc)


# --------------------------------------------------------------------------- preflight


def short_exc(exc: BaseException) -> str:
    """One line per failure: an HTTP status instead of websockets' full Response repr."""
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "status_code"):
        body = bytes(getattr(response, "body", b"") or b"")[:80]
        return f"{type(exc).__name__}: HTTP {response.status_code} {body!r}"
    return repr(exc)


def _probe_ws(port: int) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/ws/echo/", open_timeout=10, close_timeout=2) as ws:
        ws.send("probe")
        got = ws.recv(timeout=5)
        if got != "probe":
            raise RuntimeError(f"echo returned {got!r}")
        ws.send(b"\x00\x01")
        got = ws.recv(timeout=5)
        if got != b"\x00\x01":
            raise RuntimeError(f"binary echo returned {got!r}")


def _probe_broadcast(port: int) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/ws/bcast/", open_timeout=10, close_timeout=2) as ws:
        ready = ws.recv(timeout=5)
        if ready != "ready":
            raise RuntimeError(f"/ws/bcast/ sent {ready!r} instead of 'ready'")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/broadcast/?msg=probe", headers={"Content-Length": "0"})
            resp = conn.getresponse()
            body = resp.read()[:200]
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"POST /broadcast/ answered {resp.status}: {body!r}")
        got = ws.recv(timeout=5)
        if got != "probe":
            raise RuntimeError(f"member received {got!r}")


def _probe_tcp(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"probe")
        if s.recv(16) != b"probe":
            raise RuntimeError("TCP echo mismatch")


def preflight(server: Server, log_dir: Path) -> tuple[str | None, str | None]:
    """Start, probe and stop a server. Returns (unavailable reason, broadcast problem)."""
    with ServerProcess(server, None, log_dir / f"{server.name}-preflight.log") as sp:
        err = sp.wait_ready()
        if err:
            return f"start failed: {err}", None
        try:
            (_probe_tcp if server.transport == "tcp" else _probe_ws)(sp.port)
        except Exception as exc:
            tail = procs.log_tail(sp.log_path)
            return f"echo probe failed: {short_exc(exc)}" + (f" | log: {tail}" if tail else ""), None
        if not server.broadcast:
            return None, None
        try:
            _probe_broadcast(sp.port)
        except Exception as exc:
            tail = procs.log_tail(sp.log_path)
            return None, f"broadcast probe failed: {short_exc(exc)}" + (f" | log: {tail}" if tail else "")
    return None, None


# --------------------------------------------------------------------------- trial


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> str | None:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not sel.select(remaining):
            return None
        line = proc.stdout.readline()
        return line.decode(errors="replace") if line else None
    finally:
        sel.close()


def run_single_client_trial(
    server: Server, scenario: Scenario, quick: bool, places: dict[str, Placement], log_dir: Path, tag: str
) -> dict[str, Any]:
    """Run one scenario (one client process) once against a fresh server. Always stops both."""
    place = places[scenario.placement]
    out: dict[str, Any] = {"placement": scenario.placement}
    with ServerProcess(server, place.server, log_dir / f"{tag}-server.log", place.server | place.client) as sp:
        err = sp.wait_ready()
        if err:
            return {**out, "error": f"server start failed: {err}"}
        spec = scenario.client_spec(server, sp.port, quick)
        client = procs.spawn(
            [sys.executable, str(LOADGEN), json.dumps(spec)],
            cpus=place.client,
            log_path=log_dir / f"{tag}-client.log",
            pipes=True,
        )
        marks: dict[str, Snapshot] = {}
        result: dict[str, Any] | None = None
        deadline = time.monotonic() + spec["hard_timeout"] + 10
        try:
            while result is None:
                line = _read_line(client, deadline)
                if line is None:
                    break
                if line.startswith("MARK "):
                    marks[line.split()[1]] = sp.snapshot()
                    assert client.stdin is not None
                    client.stdin.write(b"go\n")
                    client.stdin.flush()
                elif line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT "):])
        finally:
            procs.stop(client, grace=2.0)
        if sp.proc.poll() is not None:
            out["server_exit"] = sp.proc.returncode
    if result is None:
        tail = procs.log_tail(log_dir / f"{tag}-client.log")
        return {**out, "error": "client gave no result before its deadline" + (f": {tail}" if tail else "")}
    out["raw"] = result
    if "error" in result and not _has_figures(result):
        tail = procs.log_tail(log_dir / f"{tag}-server.log", 3)
        return {**out, "error": result["error"] + (f" | server log: {tail}" if tail else "")}
    try:
        out["metrics"] = scenario.derive(result, marks, spec)
    except (KeyError, TypeError, ZeroDivisionError) as exc:
        return {**out, "error": f"incomplete result ({exc!r}): {result.get('error', '')}"}
    if "error" in result:
        out["error"] = result["error"]  # figures kept, but the trial is flagged
    return out


def _has_figures(result: dict[str, Any]) -> bool:
    return "rate" in result or "last_ms" in result
