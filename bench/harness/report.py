"""Medians, min-max, ratios against the baseline; markdown tables, JSON lines, RESULTS.md."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from .scenarios import Scenario

Trial = dict[str, Any]


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def summarize(trials: list[Trial], scenario: Scenario, servers: list[str]) -> dict[str, dict[str, Any]]:
    """Per server: for every metric, median/min/max over the successful repetitions."""
    out: dict[str, dict[str, Any]] = {}
    for name in servers:
        # Attempts replaced by a quieter retry are kept in results.jsonl, not counted here.
        mine = [
            t for t in trials
            if t["scenario"] == scenario.id and t["server"] == name and "discarded" not in t
        ]
        good = [t for t in mine if "metrics" in t and "error" not in t]
        stats: dict[str, Any] = {}
        keys = {k for t in good for k in t["metrics"]}
        for key in sorted(keys):
            values = [t["metrics"][key] for t in good if t["metrics"].get(key) is not None]
            if values:
                stats[key] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "n": len(values),
                }
        out[name] = {
            "stats": stats,
            "runs": len(mine),
            "ok": len(good),
            "errors": [t["error"] for t in mine if "error" in t],
            "skipped": next((t["skipped"] for t in mine if "skipped" in t), None),
        }
    return out


def ratio(summary: dict[str, dict[str, Any]], server: str, baseline: str, key: str) -> float | None:
    mine = summary.get(server, {}).get("stats", {}).get(key)
    base = summary.get(baseline, {}).get("stats", {}).get(key)
    if not mine or not base or not base["median"]:
        return None
    return float(mine["median"] / base["median"])


def effective_baseline(summary: dict[str, dict[str, Any]], baseline: str) -> str | None:
    """The chosen baseline, or the first server with results when it has none here (e.g. S4)."""
    if summary.get(baseline, {}).get("ok"):
        return baseline
    return next((name for name, entry in summary.items() if entry["ok"]), None)


def scenario_table(scenario: Scenario, summary: dict[str, dict[str, Any]], baseline: str, placement: str) -> str:
    baseline = effective_baseline(summary, baseline) or baseline
    header = ["server"]
    for col in scenario.columns:
        header.append(col.label)
        if col.primary:
            header.append(f"vs {baseline}")
    lines = [
        f"### {scenario.id}: {scenario.title} (cores: {placement})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for name, entry in summary.items():
        if entry["skipped"] and not entry["ok"]:
            continue
        row = [f"**{name}**" if name == baseline else name]
        if not entry["ok"]:
            reason = entry["errors"][0] if entry["errors"] else "no result"
            row.append(f"failed: {reason[:120]}")
            row.extend([""] * (len(header) - 2))
            lines.append("| " + " | ".join(row) + " |")
            continue
        for col in scenario.columns:
            st = entry["stats"].get(col.key)
            if st is None:
                row.append("-")
            elif col.primary and st["n"] > 1:
                row.append(f"{fmt(st['median'])} ({fmt(st['min'])}–{fmt(st['max'])})")
            else:
                row.append(fmt(st["median"]))
            if col.primary:
                r = ratio(summary, name, baseline, col.key)
                row.append("-" if r is None else f"{r:.2f}×")
        if entry["errors"]:
            row[0] += f" ({len(entry['errors'])}/{entry['runs']} runs failed)"
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown(
    scenarios: list[Scenario],
    summaries: dict[str, dict[str, dict[str, Any]]],
    baseline: str,
    placements: dict[str, str],
    unavailable: dict[str, str],
    notes: list[str],
) -> str:
    parts = [scenario_table(s, summaries[s.id], baseline, placements[s.placement]) for s in scenarios]
    tail: list[str] = []
    for name, reason in unavailable.items():
        tail.append(f"- **{name}**: unavailable: {reason}")
    for note in notes:
        tail.append(f"- {note}")
    if tail:
        parts.append("Notes:\n\n" + "\n".join(tail))
    return "\n\n".join(parts) + "\n"


def append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a") as f:
        for rec in records:
            f.write(json.dumps(rec, sort_keys=True, default=str) + "\n")


def results_md(
    table: str, run: dict[str, Any], machine: dict[str, Any], command: str, baseline: str, ceiling: str
) -> str:
    peers = ", ".join(f"{k} {v}" for k, v in machine["peer_versions"].items())
    dj = ", ".join(f"{k} {v}" for k, v in machine["django_ws_venv"].items())
    mode = "quick" if run["quick"] else "full"
    ceiling_lines = "\n".join(f"  - {part}" for part in ceiling.split(" | "))
    return f"""# Benchmark results

Generated by `bench/run.py`; see bench/README.md for the method. Re-running overwrites this file
(every run is also appended to bench/results.jsonl, which stays on the machine that ran it).

- Date: {run['date']} (run id `{run['run_id']}`, {mode} mode, {run['reps']} repetition(s) per cell,
  {run['wall_s']:.0f} s wall)
- Command: `{command}`
- Machine: {machine['cpu']}, {machine['cores']} cores (usable {machine['usable_cores']}), Linux {machine['kernel']};
  load average before/after the run: {' '.join(run['loadavg_before'])} / {' '.join(run['loadavg_after'])}
- Suite venv: Python {machine['python']}; {peers}
- django_ws venv: {dj}
- Baseline for ratios: **{baseline}** (ratio = server median / baseline median; rates: higher is
  better, latency/RSS/CPU: lower is better). Cells: median (min–max) over the repetitions.
- Load-generator ceiling (fastest server per client mode; rate / client CPU share ≈ what the client
  alone could drive on its core; figures well below it were not client-bound):
{ceiling_lines}

{table}"""


# --------------------------------------------------------------------------- S6 (scale)

SCALE_COLS = (
    ("conns", "connections held"),
    ("failed", "failed handshakes"),
    ("dropped", "dropped"),
    ("dropped_hold", "dropped in the hold"),
    ("rss_mib", "server RSS MiB"),
    ("rss_kib_conn", "RSS KiB/conn"),
    ("rss_pinged_kib_conn", "RSS KiB/conn after a ping"),
    ("hs_rate", "handshakes/s (filling)"),
    ("srv_cpu_us_hs", "server CPU µs/handshake"),
    ("bcast_last_ms", "broadcast: last ms"),
    ("bcast_p50_ms", "p50 ms"),
    ("srv_cpu_bcast_ms", "server CPU ms/broadcast"),
    ("cli_cpu_bcast_ms", "client CPU ms/broadcast"),
)
# The goals of issue 15, part 3.
GOAL_CONNS = 50_000
GOAL_REF = 5_000
GOAL_BCAST_FACTOR = 12.0


def scale_steps(entry: dict[str, Any]) -> list[int]:
    """The steps a server's summary has figures for (keys n<N>_conns)."""
    found = set()
    for key in entry["stats"]:
        if key.startswith("n") and key.endswith("_conns"):
            found.add(int(key[1:-len("_conns")]))
    return sorted(found)


def scale_value(entry: dict[str, Any], step: int, key: str) -> float | None:
    st = entry["stats"].get(f"n{step}_{key}")
    return None if st is None else float(st["median"])


def scale_table(scenario: Scenario, summary: dict[str, dict[str, Any]], placement: str) -> str:
    header = ["server", "step", *(label for _, label in SCALE_COLS)]
    lines = [
        f"### {scenario.id}: {scenario.title} (cores: {placement})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---:"] + ["---:"] * len(SCALE_COLS)) + "|",
    ]
    for name, entry in summary.items():
        if entry["skipped"] and not entry["ok"]:
            continue
        if not entry["ok"]:
            reason = entry["errors"][0] if entry["errors"] else "no result"
            lines.append(f"| {name} | failed: {reason[:120]} |" + " |" * len(SCALE_COLS))
            continue
        for step in scale_steps(entry):
            row = [name, f"{step:,}"]
            for key, _ in SCALE_COLS:
                st = entry["stats"].get(f"n{step}_{key}")
                if st is None:
                    row.append("-")
                elif key in ("conns", "failed", "dropped", "dropped_hold"):
                    row.append(f"{st['median']:,.0f}" + ("" if st["min"] == st["max"] else
                                                         f" ({st['min']:,.0f}–{st['max']:,.0f})"))
                elif key in ("rss_kib_conn", "bcast_last_ms") and st["n"] > 1:
                    row.append(f"{fmt(st['median'])} ({fmt(st['min'])}–{fmt(st['max'])})")
                else:
                    row.append(fmt(st["median"]))
            lines.append("| " + " | ".join(row) + " |")
    others = [f"{name} {fmt(entry['stats']['other_util']['median'])} %" for name, entry in summary.items()
              if entry["ok"] and "other_util" in entry["stats"]]
    if others:
        lines += ["", "Other CPU on the two cores during the trial (kernel work charged to neither side, other jobs; "
                  "% of one core, median): " + ", ".join(others) + "."]
    return "\n".join(lines)


def scale_goals(summary: dict[str, dict[str, Any]]) -> list[str]:
    """One line per goal and server: met / NOT met / not measured (with the nearest figures)."""
    out: list[str] = []
    for name, entry in summary.items():
        if not entry["ok"]:
            continue
        steps = scale_steps(entry)
        if not steps:
            continue
        top = max(steps)
        reached = GOAL_CONNS in steps
        ref = GOAL_REF if GOAL_REF in steps else None

        def v(step: int, key: str, e: dict[str, Any] = entry) -> float:
            return scale_value(e, step, key) or 0.0

        held, failed = v(top, "conns"), v(top, "failed")
        dropped = v(top, "dropped") + v(top, "dropped_hold")
        if reached:
            ok = held >= GOAL_CONNS and not failed and not dropped
            g1 = (f"**{'met' if ok else 'NOT met'}**: {held:,.0f} held, {failed:,.0f} failed handshakes, "
                  f"{dropped:,.0f} dropped")
        else:
            g1 = (f"**not measured** (no {GOAL_CONNS:,} step, see the notes); largest step {top:,}: "
                  f"{held:,.0f} held, {failed:,.0f} failed handshakes, {dropped:,.0f} dropped")
        out.append(f"- {name}: {GOAL_CONNS:,} connections held with 0 dropped: {g1}")
        if ref is not None and top > ref:
            r_ref, r_top = v(ref, "rss_kib_conn"), v(top, "rss_kib_conn")
            p_ref, p_top = scale_value(entry, ref, "rss_pinged_kib_conn"), scale_value(entry, top, "rss_pinged_kib_conn")
            # Like for like: once every member has answered a ping (connections of
            # the top step are older when it is measured, and a ping leaves state).
            a_ref, a_top = (p_ref, p_top) if p_ref and p_top else (r_ref, r_top)
            basis = "after a ping" if p_ref and p_top else "as filled"
            within = a_top <= a_ref
            verdict = ("met" if within else "NOT met") if reached else (
                "not measured" + ("; so far within it" if within else "; already above it"))
            extra = (f"; as filled: {r_top:.2f} vs {r_ref:.2f}" if basis == "after a ping" else "")
            pct = (a_top / a_ref - 1) * 100 if a_ref else 0.0
            out.append(f"- {name}: RSS per connection at {GOAL_CONNS:,} ≤ at {ref:,}: **{verdict}** ({basis}): "
                       f"{a_top:.3f} KiB at {top:,} vs {a_ref:.3f} KiB at {ref:,} ({pct:+.1f} %){extra}")
            b_ref, b_top = v(ref, "bcast_last_ms"), v(top, "bcast_last_ms")
            # Linear growth allows a factor of 12 for 10x the members; pro rata for another top step.
            allowed = GOAL_BCAST_FACTOR * (top / ref) / (GOAL_CONNS / ref)
            factor = b_top / b_ref if b_ref else float("inf")
            verdict = ("met" if factor <= allowed else "NOT met") if reached else (
                f"not measured; pro rata for {top:,} ({allowed:.1f}x allowed) "
                + ("within it" if factor <= allowed else "already above it"))
            out.append(f"- {name}: broadcast time linear ({GOAL_CONNS:,} within {GOAL_BCAST_FACTOR:.0f}x "
                       f"the {ref:,} time): **{verdict}**: {b_top:,.1f} ms at {top:,} = {factor:.1f}x "
                       f"the {b_ref:,.1f} ms at {ref:,} ({top / ref:.1f}x the members)")
    return out


def scale_plot(summary: dict[str, dict[str, Any]], path: Path, title: str) -> bool:
    """RSS/conn, broadcast time and handshakes/s against connections, one line per server."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = (
        ("rss_kib_conn", "server RSS per connection (KiB)"),
        ("bcast_last_ms", "one broadcast: ms until the last client has it"),
        ("hs_rate", "handshakes/s while filling the step"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.8))

    def label(key: str, y: float) -> str:
        return f"{y:.2f}" if key.startswith("rss") else fmt(y)

    servers = [(name, entry) for name, entry in summary.items() if entry["ok"]]
    for ax, (key, title_) in zip(axes, panels, strict=True):
        for i, (name, entry) in enumerate(servers):
            xs = [s for s in scale_steps(entry) if scale_value(entry, s, key) is not None]
            ys = [scale_value(entry, s, key) or 0.0 for s in xs]
            if not xs:
                continue
            line = ax.plot(xs, ys, marker="o", label=name)[0]
            color = line.get_color()
            for x, y in zip(xs, ys, strict=True):
                ax.annotate(label(key, y), (x, y), textcoords="offset points", xytext=(0, 7 if i == 0 else -13),
                            ha="center", fontsize=7, color=color)
            if key == "rss_kib_conn":
                px = [x for x in xs if scale_value(entry, x, "rss_pinged_kib_conn") is not None]
                py = [scale_value(entry, x, "rss_pinged_kib_conn") or 0.0 for x in px]
                if px:
                    ax.plot(px, py, marker="s", ls="--", color=color, alpha=0.6,
                            label=f"{name}, after every member answered a ping")
                    for x, y in zip(px, py, strict=True):
                        ax.annotate(label(key, y), (x, y), textcoords="offset points", xytext=(9, -3),
                                    ha="left", fontsize=7, color=color, alpha=0.8)
        if key == "bcast_last_ms":
            ref = next((e for _, e in servers if GOAL_REF in scale_steps(e)), None)
            if ref is not None:
                b = scale_value(ref, GOAL_REF, key) or 0.0
                top = max(max(scale_steps(e)) for _, e in servers)
                ax.plot([0, top], [0, b * top / GOAL_REF], ls=":", color="grey",
                        label=f"linear through {servers[0][0]}'s {GOAL_REF // 1000}k")
            ax.set_xlim(left=0)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _p: f"{x / 1000:g}k"))
        else:
            # Log scale: the small steps would crowd the left edge otherwise.
            ax.set_xscale("log")
            steps_all = sorted({s for _, e in servers for s in scale_steps(e)})
            ax.set_xticks(steps_all)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _p: f"{x / 1000:g}k"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.12)
        ax.set_xlabel("idle connections on one process" + ("" if key == "bcast_last_ms" else " (log scale)"))
        ax.set_title(title_, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right" if key == "rss_kib_conn" else "best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def scale_md(
    table: str, goals: list[str], notes: list[str], run: dict[str, Any], machine: dict[str, Any],
    command: str, plot: str | None,
) -> str:
    """RESULTS.md's S6 section (its own run: S6 is opt-in)."""
    mode = "quick" if run["quick"] else "full"
    lines = [
        "## Scale (S6)",
        "",
        f"- Date: {run['date']} (run id `{run['run_id']}`, {mode} mode, {run['reps']} repetition(s), "
        f"{run['wall_s']:.0f} s wall); command: `{command}`",
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, Linux "
        f"{machine.get('kernel', '?')}; load average before/after: {' '.join(run['loadavg_before'])} / "
        f"{' '.join(run['loadavg_after'])}",
        "- One server process holds every step (members of a step stay for the next); RSS per connection ="
        " (VmRSS at the step − VmRSS after the warm-up) / members added; handshakes/s = members added in the"
        " step / its fill time; broadcast = one `POST /broadcast/` to all, time until the last client has it.",
        "",
        table,
        "",
        "Goals (issue 15, part 3):",
        "",
        *goals,
    ]
    if notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    if plot:
        # The plot is drawn by the run and not kept in git (bench/.gitignore):
        # a link, which works where the run was made.
        lines += ["", f"The plot of RSS per connection and broadcast time against connections: "
                      f"`bench/{plot}`, drawn by the run (not kept in git)."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- S7 (a hostile neighbour)

#: The goals of issue 21: under each flood, django_ws's p99 within this factor
#: of its own p99 alone, and a ratio no worse than the best peer's.
FLOOD_GOAL_FACTOR = 2.0
FLOOD_WHAT = {"frag": "empty fragments", "ping": "pings", "big": "1 MiB messages"}


def _is_django_ws(name: str) -> bool:
    return name.startswith("django_ws")


def _range(st: dict[str, Any] | None, spread: bool = True) -> str:
    if st is None:
        return "-"
    if spread and st["n"] > 1:
        return f"{fmt(st['median'])} ({fmt(st['min'])}–{fmt(st['max'])})"
    return fmt(st["median"])


def flood_closes(trials: list[Trial], sid: str, name: str) -> str:
    """What the server did with the flooder, over the counted trials: "1008 (3/3)", "not closed (3/3)"."""
    mine = [t for t in trials if t.get("scenario") == sid and t.get("server") == name
            and "discarded" not in t and "metrics" in t and "error" not in t]
    counts: dict[str, int] = {}
    for t in mine:
        m = t["metrics"]
        if m.get("closed"):
            code = m.get("close_code")
            key = str(code) if code is not None else "dropped (no close frame)"
        else:
            key = "not closed"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} ({v}/{len(mine)})" for k, v in counts.items()) or "-"


def flood_table(
    scenarios: list[Scenario], summaries: dict[str, dict[str, dict[str, Any]]], trials: list[Trial],
    placement: str,
) -> str:
    """One table for S7's variants: per server, the phase alone and the phase under flood."""
    header = ["flood", "server", "msgs/s alone", "p50 µs alone", "p99 µs alone", "msgs/s flooded",
              "p50 µs flooded", "p99 µs flooded", "p99 flooded / alone", "flooder closed with",
              "after ms", "flood rate (written)", "written before the close or the end", "server CPU µs/msg alone",
              "server CPU % flooded", "client CPU % flooded", "flooder CPU %", "other CPU %"]
    lines = [
        "### S7: a hostile neighbour: S2's 100 clients alone, then next to one flooding client "
        f"(cores: {placement}; the flooder on the client core, nice 19)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    for sc in scenarios:
        variant = sc.full["variant"]
        what = FLOOD_WHAT.get(variant, variant)
        for name, entry in summaries[sc.id].items():
            if entry["skipped"] and not entry["ok"]:
                continue
            if not entry["ok"]:
                reason = entry["errors"][0] if entry["errors"] else "no result"
                lines.append(f"| {sc.id} {what} | {name} | failed: {reason[:160]} |" + " |" * (len(header) - 3))
                continue
            st = entry["stats"]

            def get(key: str, stats: dict[str, Any] = st) -> dict[str, Any] | None:
                return stats.get(key)

            closed_all = (get("closed") or {}).get("min") == 1.0
            if closed_all:
                # Until a close, "sent" is what the socket buffers took, not a rate the server read.
                rate = "-"
                sent_mib = (get("flood_sent_mib") or {}).get("median") or 0.0
                size = {"frag": 6, "ping": 14}.get(variant, 2**20 + 14)
                sent = f"{sent_mib * 2**20 / size:,.0f} frames" if variant != "big" else f"{fmt(sent_mib)} MiB"
            elif variant == "big":
                rate = f"{fmt((get('flood_mib_s') or {}).get('median'))} MiB/s"
                sent = f"{fmt((get('flood_sent_mib') or {}).get('median'))} MiB"
            else:
                fr = (get("flood_frames_s") or {}).get("median")
                rate = "-" if fr is None else f"{fr / 1e3:,.0f} k frames/s"
                sent_mib = (get("flood_sent_mib") or {}).get("median") or 0.0
                size = 6 if variant == "frag" else 14
                sent = f"{sent_mib * 2**20 / size:,.0f} frames"
            stalled = (get("f_stalled") or {}).get("max") or 0
            row = [
                f"{sc.id} {what}", f"**{name}**" if _is_django_ws(name) else name,
                _range(get("rate")), fmt((get("p50_us") or {}).get("median")), _range(get("p99_us")),
                _range(get("f_rate")), fmt((get("f_p50_us") or {}).get("median")),
                _range(get("f_p99_us")) + (f" ({stalled:.0f} starved)" if stalled else ""),
                (_range(get("p99_ratio"), spread=True) + "×") if get("p99_ratio") else "-",
                flood_closes(trials, sc.id, name),
                _range(get("closed_after_ms")),
                rate, sent,
                fmt((get("srv_cpu_us_op") or {}).get("median")),
                fmt((get("f_srv_util") or {}).get("median")),
                fmt((get("f_cli_util") or {}).get("median")),
                fmt((get("flooder_util") or {}).get("median")),
                fmt((get("other_util") or {}).get("median")),
            ]
            if entry["errors"]:
                row[1] += f" ({len(entry['errors'])}/{entry['runs']} runs failed)"
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def flood_goals(scenarios: list[Scenario], summaries: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Issue 21's goals, per django_ws server and flood: met / NOT met, with the figures."""
    out: list[str] = []
    for sc in scenarios:
        what = FLOOD_WHAT.get(sc.full["variant"], sc.full["variant"])
        summary = summaries[sc.id]

        def ratio_of(name: str, s: dict[str, dict[str, Any]] = summary) -> float | None:
            st = s.get(name, {}).get("stats", {}).get("p99_ratio")
            return None if not s.get(name, {}).get("ok") or st is None else float(st["median"])

        peers = {n: r for n in summary if not _is_django_ws(n) and (r := ratio_of(n)) is not None}
        best = min(peers.items(), key=lambda kv: kv[1]) if peers else None
        for name in summary:
            r = ratio_of(name)
            if not _is_django_ws(name) or r is None:
                continue
            g1 = "met" if r <= FLOOD_GOAL_FACTOR else "NOT met"
            line = (f"- {sc.id} ({what}), {name}: p99 flooded / alone = {r:.2f}× — within "
                    f"{FLOOD_GOAL_FACTOR:.0f}×: **{g1}**")
            if best is not None:
                g2 = "met" if r <= best[1] else "NOT met"
                line += f"; no worse than the best peer ({best[0]} {best[1]:.2f}×): **{g2}**"
            else:
                line += "; best peer: not measured (no peer result)"
            out.append(line)
    return out


def flood_md(table: str, goals: list[str], notes: list[str], run: dict[str, Any], command: str) -> str:
    """RESULTS.md's S7 section (its own run: S7 is opt-in)."""
    machine = run.get("machine", {})
    mode = "quick" if run["quick"] else "full"
    lines = [
        "## A hostile neighbour (S7)",
        "",
        f"- Date: {run['date']} (run id `{run['run_id']}`, {mode} mode, {run['reps']} repetition(s), "
        f"{run['wall_s']:.0f} s wall); command: `{command}`",
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, Linux "
        f"{machine.get('kernel', '?')}; load average before/after: {' '.join(run['loadavg_before'])} / "
        f"{' '.join(run['loadavg_after'])}",
        "- Each trial: one fresh server process; S2's 100 clients (32-byte ping-pong, closed loop) alone, then"
        " the same clients while one more client floods the same server (see bench/README.md, S7). Ratios"
        " are per trial (flooded / alone, the same process), then the median over the repetitions.",
        *(["- Servers named `*_base`: django_ws from another checkout (`BENCH_BASELINE_ROOT`), a before/after"
           " in one run; bench/studies/FAIRNESS.md says which and compares them."]
          if "_base" in table else []),
        "",
        table,
        "",
        "Goals (issue 21):",
        "",
        *goals,
    ]
    if notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"
