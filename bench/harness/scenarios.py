"""Scenario definitions: client parameters, core placement and derived metrics.

Each scenario is bounded twice: by time (duration / timeouts) and by count
(max_ops / conns). `quick` shortens the time bounds only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .servers import Server

# {"t": monotonic, "cpu": server CPU s, "rss": server RSS KiB, "busy": CPU s of the trial's cores}
Snapshot = dict[str, float]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    primary: bool = False  # shown with min-max and a ratio against the baseline


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    kind: str  # loadgen runner: pingpong | broadcast | connect | scale | flood
    # "same": client and server share one core (ping-pong: a wake-up across
    # cores would measure the hypervisor, not the server); "split": one core each.
    placement: str
    full: dict[str, Any]
    quick: dict[str, Any]
    columns: tuple[Column, ...]
    needs_broadcast: bool = False
    tcp_ok: bool = True
    # Only these servers take part (None: all).
    servers: tuple[str, ...] | None = None
    # Part of a run without --scenarios.
    default: bool = True

    def skip_reason(self, server: Server, broadcast_ok: bool) -> str | None:
        if self.servers is not None and server.name not in self.servers:
            return f"{self.id} runs only {', '.join(self.servers)}"
        if server.only is not None and self.id not in server.only:
            return f"runs only {', '.join(server.only)}"
        if server.transport == "tcp" and not self.tcp_ok:
            return "not applicable to raw TCP"
        if self.needs_broadcast and not (server.broadcast and broadcast_ok):
            return "no working broadcast endpoint"
        return None

    def client_spec(self, server: Server, port: int, quick: bool) -> dict[str, Any]:
        params = dict(self.full)
        if quick:
            params.update(self.quick)
        spec: dict[str, Any] = {
            "kind": self.kind,
            "transport": server.transport,
            "host": "127.0.0.1",
            "port": port,
            "path": "/ws/bcast/" if self.kind == "broadcast" else "/ws/echo/",
            "trigger": "/broadcast/",
            "grace": 15.0,
            **params,
        }
        budget = (
            spec.get("warmup", 0) + spec.get("duration", 0) + spec["grace"]
            + spec.get("connect_timeout", 0) + 2 * spec.get("bcast_timeout", 0)
            # S7: a second phase (under flood), the flooder's start and stop.
            + (spec["duration"] + spec["flood_grace"] + 40 if self.kind == "flood" else 0)
        )
        spec["hard_timeout"] = int(budget + 30)
        return spec

    def derive(self, res: dict[str, Any], marks: dict[str, Snapshot], spec: dict[str, Any]) -> dict[str, Any]:
        """Turn the client's figures and the server snapshots into table metrics."""
        m: dict[str, Any] = {}
        if self.kind == "broadcast":
            before, after, bcast = marks["before"], marks["after"], marks["bcast"]
            conns = max(res["conns"], 1)
            m["conns"] = res["conns"]
            m["rss_kib_conn"] = (after["rss"] - before["rss"]) / conns
            m["rss_before_mib"] = before["rss"] / 1024
            m["bcast_last_ms"] = res["last_ms"]
            m["bcast_p50_ms"] = res["p50_ms"]
            m["bcast_first_ms"] = res["first_ms"]
            m["bcast_http_ms"] = res["http_ms"]
            m["srv_cpu_bcast_ms"] = (bcast["cpu"] - after["cpu"]) * 1e3
            m["conn_rate"] = res["conns"] / res["connect_s"] if res["connect_s"] else None
            m["srv_cpu_us_conn"] = (after["cpu"] - before["cpu"]) / conns * 1e6
            window = bcast["t"] - before["t"]
            other = (bcast["busy"] - before["busy"]) - (bcast["cpu"] - before["cpu"]) - res["client_cpu_s"]
            m["other_util"] = other / window * 100
            return m
        if self.kind == "flood":
            return self._derive_flood(res, marks)
        start, stop = marks["start"], marks["stop"]
        ops, elapsed = max(res["ops"], 1), res["elapsed_s"]
        srv_cpu = stop["cpu"] - start["cpu"]
        m["ops"] = res["ops"]
        m["rate"] = res["rate"]
        m["srv_cpu_us_op"] = srv_cpu / ops * 1e6
        m["srv_util"] = srv_cpu / elapsed * 100
        m["cli_util"] = res["client_cpu_s"] / elapsed * 100
        m["errors"] = res.get("errors", 0)
        # CPU busy on the trial's cores beyond server + client (kernel softirq
        # work charged to neither, other jobs), in % of one core. Noise indicator.
        busy = stop["busy"] - start["busy"]
        m["other_util"] = (busy - srv_cpu - res["client_cpu_s"]) / elapsed * 100
        if self.kind == "pingpong":
            m["p50_us"], m["p99_us"] = res["p50_us"], res["p99_us"]
            mib = ops * spec["size"] / 2**20
            m["mib_s"] = res["mib_s"]
            m["srv_cpu_ms_mib"] = srv_cpu / mib * 1e3
        else:
            m["p50_ms"], m["p99_ms"] = res["p50_ms"], res["p99_ms"]
        return m

    @staticmethod
    def _derive_flood(res: dict[str, Any], marks: dict[str, Snapshot]) -> dict[str, Any]:
        """S7: the phase alone (start..stop) and the phase under flood (fstart..fstop)."""
        m: dict[str, Any] = {}
        start, stop, fstart, fstop = marks["start"], marks["stop"], marks["fstart"], marks["fstop"]
        elapsed, f_elapsed = res["elapsed_s"], res["f_elapsed_s"]
        srv, f_srv = stop["cpu"] - start["cpu"], fstop["cpu"] - fstart["cpu"]
        fl = res["flooder"]
        m["rate"], m["p50_us"], m["p99_us"] = res["rate"], res["p50_us"], res["p99_us"]
        m["srv_cpu_us_op"] = srv / max(res["ops"], 1) * 1e6
        m["srv_util"] = srv / elapsed * 100
        m["cli_util"] = res["client_cpu_s"] / elapsed * 100
        m["f_rate"], m["f_p50_us"], m["f_p99_us"] = res["f_rate"], res["f_p50_us"], res["f_p99_us"]
        m["f_max_us"] = res["f_max_us"]
        # Server CPU per echo under flood: the flood's own cost included.
        m["f_srv_cpu_us_op"] = f_srv / max(res["f_ops"], 1) * 1e6
        m["f_srv_util"] = f_srv / f_elapsed * 100
        m["f_cli_util"] = res["f_client_cpu_s"] / f_elapsed * 100
        m["flooder_util"] = res["flooder_cpu_s"] / f_elapsed * 100
        m["f_stalled"] = res["f_stalled"]
        m["errors"] = res.get("errors", 0) + res.get("f_errors", 0)
        # Per trial, so that each flood phase is compared with the phase alone
        # just before it, on the same server process.
        m["p99_ratio"] = res["f_p99_us"] / res["p99_us"] if res["p99_us"] and res["f_p99_us"] else None
        m["rate_ratio"] = res["f_rate"] / res["rate"] if res["rate"] else None
        m["flood_mib_s"] = fl.get("sent_mib_s")
        m["flood_frames_s"] = fl.get("frames_s")
        m["flood_sent_mib"] = fl.get("sent_bytes", 0) / 2**20
        m["closed"] = 1.0 if fl.get("closed_by_server") else 0.0
        m["close_code"] = fl.get("close_code")
        m["closed_after_ms"] = fl["closed_after_s"] * 1e3 if fl.get("closed_after_s") is not None else None
        # Other CPU on the two cores, the busier of the two phases (noise indicator).
        other_alone = ((stop["busy"] - start["busy"]) - srv - res["client_cpu_s"]) / elapsed * 100
        other_flood = ((fstop["busy"] - fstart["busy"]) - f_srv - res["f_client_cpu_s"]
                       - res["flooder_cpu_s"]) / f_elapsed * 100
        m["other_util_alone"], m["other_util_flood"] = other_alone, other_flood
        m["other_util"] = max(other_alone, other_flood)
        return m


#: S7's servers: django_ws (function and class echo), its peers from issue 21, and
#: the baseline checkout's (BENCH_BASELINE_ROOT) for a before/after.
FLOOD_SERVERS = ("django_ws", "django_ws_cls", "websockets", "channels_daphne", "django_ws_base",
                 "django_ws_cls_base")

CPU_COLS = (
    Column("srv_util", "server CPU %"),
    Column("cli_util", "client CPU %"),
    # Everything else that ran meanwhile: kernel work charged to neither, other jobs.
    Column("other_util", "other CPU %"),
)

SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in [
        Scenario(
            "S1", "one connection ping-pong, 32-byte text", "pingpong", "same",
            full={"conns": 1, "size": 32, "binary": False, "duration": 3.0, "max_ops": 1_000_000,
                  "warmup": 0.5, "warmup_ops": 100_000, "connect_concurrency": 1},
            quick={"duration": 1.5, "warmup": 0.3},
            columns=(Column("rate", "round trips/s", True), Column("p50_us", "p50 µs"),
                     Column("p99_us", "p99 µs"), Column("srv_cpu_us_op", "server CPU µs/rt"), *CPU_COLS),
        ),
        Scenario(
            "S2", "100 connections ping-pong, 32-byte text", "pingpong", "split",
            full={"conns": 100, "size": 32, "binary": False, "duration": 4.0, "max_ops": 4_000_000,
                  "warmup": 0.5, "warmup_ops": 400_000, "connect_concurrency": 50},
            quick={"duration": 2.0, "warmup": 0.3},
            columns=(Column("rate", "msgs/s", True), Column("p50_us", "p50 µs"), Column("p99_us", "p99 µs"),
                     Column("srv_cpu_us_op", "server CPU µs/msg"), *CPU_COLS),
        ),
        Scenario(
            # Bulk transfer overlaps sending and echoing, so it gets a core each.
            "S3", "one connection, 1 MiB binary echo", "pingpong", "split",
            full={"conns": 1, "size": 2**20, "binary": True, "duration": 3.0, "max_ops": 20_000,
                  "warmup": 0.3, "warmup_ops": 20, "connect_concurrency": 1},
            quick={"duration": 1.5, "warmup": 0.2},
            columns=(Column("mib_s", "MiB/s", True), Column("srv_cpu_ms_mib", "server CPU ms/MiB"), *CPU_COLS),
        ),
        Scenario(
            "S4", "5,000 idle connections, then one broadcast", "broadcast", "split",
            full={"conns": 5000, "warmup_conns": 10, "settle": 0.5, "connect_concurrency": 100,
                  "connect_timeout": 90.0, "bcast_timeout": 20.0},
            quick={},
            columns=(Column("rss_kib_conn", "RSS KiB/conn", True), Column("bcast_last_ms", "broadcast: last ms", True),
                     Column("bcast_p50_ms", "p50 ms"), Column("srv_cpu_bcast_ms", "server CPU ms/broadcast"),
                     Column("conn_rate", "connects/s"), Column("srv_cpu_us_conn", "server CPU µs/connect"),
                     Column("other_util", "other CPU %")),
            needs_broadcast=True,
            tcp_ok=False,
        ),
        Scenario(
            "S5s", "connect + one echo + close, sequential", "connect", "same",
            full={"conns": 1, "size": 32, "duration": 2.5, "max_ops": 50_000, "warmup": 0.3,
                  "warmup_ops": 1000, "cycle_timeout": 5.0, "max_errors": 50},
            quick={"duration": 1.5, "warmup": 0.2},
            columns=(Column("rate", "conn/s", True), Column("p50_ms", "p50 ms"), Column("p99_ms", "p99 ms"),
                     Column("srv_cpu_us_op", "server CPU µs/conn"), *CPU_COLS),
        ),
        Scenario(
            "S5p", "connect + one echo + close, 50 in parallel", "connect", "split",
            full={"conns": 50, "size": 32, "duration": 2.5, "max_ops": 100_000, "warmup": 0.3,
                  "warmup_ops": 1000, "cycle_timeout": 5.0, "max_errors": 200},
            quick={"duration": 1.5, "warmup": 0.2},
            columns=(Column("rate", "conn/s", True), Column("p50_ms", "p50 ms"), Column("p99_ms", "p99 ms"),
                     Column("srv_cpu_us_op", "server CPU µs/conn"), *CPU_COLS),
        ),
        Scenario(
            # Opt-in (--scenarios S6): holds up to 50,000 connections, a few minutes per trial.
            "S6", "idle connections at 1k-50k on one process: RSS, handshakes/s, one broadcast", "scale", "split",
            full={"steps": [1000, 5000, 10000, 50000], "warmup_conns": 10, "settle": 1.0,
                  "connect_concurrency": 100, "handshake_timeout": 10.0,
                  # RSS again at 5k and at the top step once every member has been pinged (20 s).
                  "hold_s": 24.0, "connect_timeout": 60.0,
                  "bcast_timeout": 30.0, "per_client_max": 15000, "fd_reserve": 200,
                  # Only for the client's last-resort alarm: the slowest fill rate still expected.
                  "min_rate": 200.0,
                  "sources": [f"127.0.0.{i}" for i in range(1, 9)]},
            quick={},
            columns=(),
            needs_broadcast=True,
            tcp_ok=False,
            servers=("django_ws", "websockets"),
            default=False,
        ),
        *(
            Scenario(
                # Opt-in (--scenarios S7): issue 21, "a hostile neighbour". Each trial runs S2
                # alone, then S2 again next to one client flooding the same server.
                sid, f"S2's 100 clients next to one flooder: {what}", "flood", "split",
                full={"conns": 100, "size": 32, "binary": False, "duration": 4.0, "max_ops": 4_000_000,
                      "warmup": 0.5, "warmup_ops": 400_000, "connect_concurrency": 50,
                      "variant": variant, "flood_grace": 5.0, "flood_nice": 19,
                      "max_flood_bytes": 16 * 2**30},
                quick={"duration": 2.0, "warmup": 0.3, "flood_grace": 3.0},
                columns=(),
                servers=FLOOD_SERVERS,
                default=False,
            )
            for sid, variant, what in (
                ("S7a", "frag", "empty continuation fragments"),
                ("S7b", "ping", "pings"),
                ("S7c", "big", "1 MiB binary messages"),
            )
        ),
    ]
}

# "S5" on the command line means both of its variants, "S7" its three floods.
ALIASES = {"S5": ("S5s", "S5p"), "S7": ("S7a", "S7b", "S7c")}


def select(names: str | None) -> list[Scenario]:
    if not names:
        return [s for s in SCENARIOS.values() if s.default]
    picked: list[str] = []
    for raw in names.split(","):
        name = raw.strip()
        for sid in ALIASES.get(name.upper(), (name,)):
            key = next((k for k in SCENARIOS if k.lower() == sid.lower()), None)
            if key is None:
                raise SystemExit(f"unknown scenario {name!r}; known: {', '.join([*SCENARIOS, *ALIASES])}")
            if key not in picked:
                picked.append(key)
    return [SCENARIOS[k] for k in picked]
