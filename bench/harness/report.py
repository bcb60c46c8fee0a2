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
(every run is also appended to bench/results.jsonl).

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
