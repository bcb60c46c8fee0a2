"""S6: idle connections at 1k, 5k, 10k, 50k on one server process; RSS per
connection, handshakes/s while filling and one broadcast to all at each step.

One server process holds every step (the members of a step stay for the
next). The members come from several load-generator processes (each under
its own file-descriptor limit), all pinned to the client core; each binds its
sockets to source addresses 127.0.0.1-127.0.0.8 in turn, so the ephemeral
ports of one source address do not run out.

The orchestrator drives the clients over their pipes (client/loadgen.py,
run_scale), snapshots the server's /proc figures between the phases and
sends the broadcast trigger itself, timing it on the same monotonic clock as
the clients' arrival stamps (CLOCK_MONOTONIC is system-wide).

A step that the server's RLIMIT_NOFILE cannot hold (the hard limit can only
be raised with CAP_SYS_RESOURCE) is not run; the highest step that fits is
run instead and the record says why.
"""

from __future__ import annotations

import http.client
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import procs
from .scenarios import Scenario
from .servers import Server
from .trial import LOADGEN, Placement, ServerProcess, _read_line

GOAL_REF = 5_000  # the step the goals compare with (today's S4)

Step = dict[str, Any]


class ClientError(RuntimeError):
    pass


def _ask(clients: list[subprocess.Popen[bytes]], cmds: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Send one command to each client (all first, so they work in parallel), then read each reply."""
    for proc, cmd in zip(clients, cmds, strict=True):
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(cmd) + "\n").encode())
        proc.stdin.flush()
    deadline = time.monotonic() + timeout
    replies = []
    for i, proc in enumerate(clients):
        while True:
            line = _read_line(proc, deadline)
            if line is None:
                raise ClientError(f"client {i} gave no reply to {cmds[i]['cmd']!r} in {timeout:.0f}s")
            if line.startswith("REPLY "):
                replies.append(json.loads(line[len("REPLY "):]))
                break
    return replies


def _post_broadcast(port: int, msg: str, timeout: float) -> tuple[int, int, float]:
    """POST /broadcast/ from the orchestrator. Returns (t0 in perf_counter ns, status, seconds)."""
    t0 = time.perf_counter_ns()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/broadcast/?msg={msg}", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    finally:
        conn.close()
    return t0, status, (time.perf_counter_ns() - t0) / 1e9


def _broadcast(clients: list[subprocess.Popen[bytes]], port: int, spec: dict[str, Any], msg: str) -> dict[str, Any]:
    armed = _ask(clients, [{"cmd": "arm"}] * len(clients), 30)
    expect = sum(a["expect"] for a in armed)
    cpu_before = sum(a["cpu_s"] for a in armed)
    t0, status, http_s = _post_broadcast(port, msg, spec["bcast_timeout"])
    got = _ask(clients, [{"cmd": "collect"}] * len(clients), spec["bcast_timeout"] + 30)
    arrivals = sorted(a - t0 for g in got for a in g["arrivals"])
    n = len(arrivals)
    return {
        "expect": expect,
        "received": n,
        "http_status": status,
        "http_ms": http_s * 1e3,
        "first_ms": arrivals[0] / 1e6 if n else None,
        "p50_ms": arrivals[n // 2] / 1e6 if n else None,
        "last_ms": arrivals[-1] / 1e6 if n else None,
        "lost": sum(g["lost"] for g in got),
        "client_cpu_ms": (sum(g["cpu_s"] for g in got) - cpu_before) * 1e3,
    }


def plan_steps(steps: list[int], server_cap: int, granule: int = 500) -> tuple[list[int], list[int], int | None]:
    """(steps that fit, steps that do not, an extra step at the cap or None)."""
    fit = [s for s in steps if s <= server_cap]
    skipped = [s for s in steps if s > server_cap]
    capped = None
    if skipped:
        top = server_cap // granule * granule
        if top > (max(fit) if fit else 0):
            capped = top
    return fit, skipped, capped


def shares(total: int, n: int) -> list[int]:
    """Split `total` members over `n` clients as evenly as possible."""
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def run_scale_trial(
    server: Server, scenario: Scenario, quick: bool, places: dict[str, Placement], log_dir: Path, tag: str
) -> dict[str, Any]:
    place = places[scenario.placement]
    out: dict[str, Any] = {"placement": scenario.placement}
    params = dict(scenario.full)
    if quick:
        params.update(scenario.quick)
    steps: list[int] = sorted(params["steps"])
    reserve = int(params["fd_reserve"])
    warm = int(params["warmup_conns"])
    clients: list[subprocess.Popen[bytes]] = []
    with ServerProcess(server, place.server, log_dir / f"{tag}-server.log", place.server | place.client,
                       nofile=max(steps) + reserve) as sp:
        err = sp.wait_ready()
        if err:
            return {**out, "error": f"server start failed: {err}"}
        limits = procs.nofile_limits(sp.proc.pid) or (0, 0)
        server_cap = (limits[0] if limits[0] > 0 else 1 << 30) - reserve
        fit, skipped, capped = plan_steps(steps, server_cap)
        plan = sorted(fit + ([capped] if capped else []))
        notes: list[str] = []
        if skipped:
            notes.append(
                f"{server.name}: step(s) {', '.join(f'{s:,}' for s in skipped)} not run: the server's "
                f"RLIMIT_NOFILE is {limits[0]:,} (hard {limits[1]:,}) and raising it to {max(steps) + reserve:,} "
                f"was refused (needs CAP_SYS_RESOURCE)" + (f"; ran {capped:,} instead" if capped else "")
            )
        # Client processes: each holds at most per_client members under its own fd limit.
        own_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        own_hard = own_hard if own_hard > 0 else 1 << 30
        per_client = min(int(params["per_client_max"]), own_hard - reserve)
        top = max(plan)
        nclients = max(1, math.ceil(top / per_client))
        conc = max(1, int(params["connect_concurrency"]) // nclients)
        spec = {
            "kind": "scale", "host": "127.0.0.1", "port": sp.port, "path": "/ws/bcast/",
            "sources": params["sources"], "handshake_timeout": params["handshake_timeout"],
            "connect_timeout": params["connect_timeout"], "bcast_timeout": params["bcast_timeout"],
            "connect_concurrency": conc, "max_members": per_client,
            "max_commands": 4 * (len(plan) + 2) + 4,
        }
        # Last-resort bound per client: every phase's own bound, summed, plus slack.
        fill_s = top / float(params["min_rate"])
        spec["hard_timeout"] = int(fill_s + len(plan) * (params["connect_timeout"] + 2 * params["bcast_timeout"]
                                                      + 30) + 120)
        out.update({"plan": plan, "skipped_steps": skipped, "server_nofile": list(limits),
                    "client_procs": nclients, "notes": notes})
        try:
            for i in range(nclients):
                clients.append(procs.spawn(
                    [sys.executable, str(LOADGEN), json.dumps(spec)], cpus=place.client,
                    log_path=log_dir / f"{tag}-client{i}.log", pipes=True, nofile=per_client + reserve,
                ))
            result = _drive(sp, clients, spec, params, plan, warm, out)
        except ClientError as exc:
            result = {"error": str(exc)}
        finally:
            for proc in clients:
                if proc.poll() is None and proc.stdin is not None:
                    try:
                        proc.stdin.write(b'{"cmd": "quit"}\n')
                        proc.stdin.flush()
                    except OSError:
                        pass
            for proc in clients:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
                procs.stop(proc, grace=2.0)
        if sp.proc.poll() is not None:
            out["server_exit"] = sp.proc.returncode
    out.update(result)
    return out


def _drive(
    sp: ServerProcess, clients: list[subprocess.Popen[bytes]], spec: dict[str, Any], params: dict[str, Any],
    plan: list[int], warm: int, out: dict[str, Any],
) -> dict[str, Any]:
    n = len(clients)
    fill_timeout = spec["connect_timeout"] + 30
    # Warm-up: a few members on client 0 and one broadcast (imports, URL resolution, first calls).
    # They stay connected and are counted in every step's total.
    _ask(clients, [{"cmd": "fill", "n": warm if i == 0 else 0} for i in range(n)], fill_timeout)
    wb = _broadcast(clients, sp.port, spec, "warmup")
    if wb["http_status"] != 200 or wb["received"] < warm:
        return {"error": f"warm-up broadcast failed: {wb}"}
    time.sleep(params["settle"])
    base = sp.snapshot()
    start = base
    held = [warm] + [0] * (n - 1)
    steps: list[Step] = []
    metrics: dict[str, Any] = {}
    client_cpu_total = 0.0
    for target in plan:
        want = shares(target, n)
        adds = [max(0, w - h) for w, h in zip(want, held, strict=True)]
        before = sp.snapshot()
        replies = _ask(clients, [{"cmd": "fill", "n": a} for a in adds], fill_timeout + target / params["min_rate"])
        filled = sp.snapshot()
        held = [r["ready"] for r in replies]
        added = sum(r["added"] for r in replies)
        fill_s = (max(r["t1"] for r in replies) - min(r["t0"] for r in replies)) / 1e9
        errors = sum(r["errors"] for r in replies)
        client_cpu_total += sum(r["cpu_s"] for r in replies)
        time.sleep(params["settle"])  # per-connection bookkeeping done, allocator settled
        after = sp.snapshot()
        conns = sum(held)
        bc = _broadcast(clients, sp.port, spec, f"scale{target}")
        done = sp.snapshot()
        client_cpu_total += bc["client_cpu_ms"] / 1e3
        dropped = bc["lost"] + max(0, bc["expect"] - bc["received"])
        step: Step = {
            "target": target, "conns": conns, "added": added, "failed": errors,
            "last_error": next((r["last_error"] for r in replies if r["last_error"]), ""),
            "dropped": dropped, "rss_mib": after["rss"] / 1024,
            "rss_kib_conn": (after["rss"] - base["rss"]) / max(conns - warm, 1),
            "hs_rate": added / fill_s if fill_s > 0 else None,
            "srv_cpu_us_hs": (filled["cpu"] - before["cpu"]) / max(added, 1) * 1e6,
            "cli_cpu_us_hs": sum(r["cpu_s"] for r in replies) / max(added, 1) * 1e6,
            "bcast_last_ms": bc["last_ms"], "bcast_p50_ms": bc["p50_ms"], "bcast_first_ms": bc["first_ms"],
            "bcast_http_ms": bc["http_ms"], "bcast_received": bc["received"], "bcast_expect": bc["expect"],
            "srv_cpu_bcast_ms": (done["cpu"] - after["cpu"]) * 1e3, "cli_cpu_bcast_ms": bc["client_cpu_ms"],
            # What the broadcast left resident (freed memory the allocator keeps).
            "rss_bcast_kib": done["rss"] - after["rss"],
        }
        if target in (GOAL_REF, plan[-1]) and params.get("hold_s"):
            # Both servers ping every 20 s, and an answered ping leaves state behind
            # (the last parsed frame, at least): hold until every member of the step
            # has been pinged and measure RSS again, so 5k and the top step compare
            # at the same connection age.
            time.sleep(max(0.0, params["hold_s"] - (time.monotonic() - filled["t"])))
            pinged = sp.snapshot()
            step["rss_pinged_kib_conn"] = (pinged["rss"] - base["rss"]) / max(conns - warm, 1)
            armed = _ask(clients, [{"cmd": "arm"}] * n, 30)  # re-arming costs nothing and counts the living
            step["dropped_hold"] = conns - sum(a["expect"] for a in armed)
        steps.append(step)
        for k, v in step.items():
            if isinstance(v, (int, float)) and k != "target":
                metrics[f"n{target}_{k}"] = v
        print(f"    step {target:>6,}: held {conns:,} failed {errors} dropped {dropped} "
              f"rss {step['rss_kib_conn']:.2f} KiB/conn, {step['hs_rate'] or 0:,.0f} hs/s, "
              f"bcast last {bc['last_ms'] or -1:.1f} ms (rss +{step['rss_bcast_kib']:.0f} KiB)", flush=True)
        if errors > max(10, target // 100) or bc["received"] < bc["expect"] * 0.99:
            out["notes"].append(f"stopped after {target:,}: {errors} failed handshakes "
                                f"({step['last_error'][:120]}), broadcast reached {bc['received']:,}/{bc['expect']:,}")
            break
    end = sp.snapshot()
    window = end["t"] - start["t"]
    other = (end["busy"] - start["busy"]) - (end["cpu"] - start["cpu"]) - client_cpu_total
    metrics["other_util"] = other / window * 100 if window > 0 else None
    metrics["max_conns"] = max((s["conns"] for s in steps), default=0)
    res: dict[str, Any] = {"steps": steps, "metrics": metrics}
    if not steps:
        res["error"] = "no step completed"
    # Failed handshakes and dropped members are figures of the table, not trial errors.
    return res
