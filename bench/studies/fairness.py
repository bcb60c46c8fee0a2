#!/usr/bin/env python3
"""Print the before/after and S7 tables of one run of bench/run.py (for FAIRNESS.md).

    bench/.venv/bin/python bench/studies/fairness.py [RUN_ID]      # default: the latest run with S7

The run is one made with BENCH_BASELINE_ROOT=<the checkout before> (servers
``*_base``) and ``--scenarios S1,S2,S7``: each pair (django_ws and
django_ws_base, django_ws_cls and django_ws_cls_base) ran in the same
repetitions, in a rotating order. Per scenario the table shows the server's
CPU per message before and after (median, min-max), the difference of the
medians, and the median of the per-repetition differences (each repetition's
after against the same repetition's before, minutes apart).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]  # the suite: bench/
sys.path.insert(0, str(BENCH))

PAIRS = (("django_ws", "django_ws_base"), ("django_ws_cls", "django_ws_cls_base"))
# (scenario, metric, label); S7's CPU per message is its phase alone (S2 beside an idle flooder).
ROWS = (
    ("S1", "srv_cpu_us_op", "S1 server CPU µs/round trip"),
    ("S2", "srv_cpu_us_op", "S2 server CPU µs/msg"),
    ("S7a", "srv_cpu_us_op", "S7a phase alone, server CPU µs/msg"),
    ("S7b", "srv_cpu_us_op", "S7b phase alone, server CPU µs/msg"),
    ("S7c", "srv_cpu_us_op", "S7c phase alone, server CPU µs/msg"),
    ("S2", "rate", "S2 msgs/s"),
    ("S2", "p99_us", "S2 p99 µs"),
    ("S7a", "f_p99_us", "S7a p99 µs flooded (empty fragments)"),
    ("S7b", "f_p99_us", "S7b p99 µs flooded (pings)"),
    ("S7c", "f_p99_us", "S7c p99 µs flooded (1 MiB messages)"),
)


def load(run_id: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records = [json.loads(line) for line in (BENCH / "results.jsonl").read_text().splitlines() if line.strip()]
    runs = [r for r in records if r.get("type") == "run" and not r.get("interrupted")]
    if run_id:
        runs = [r for r in runs if r["run_id"] == run_id]
    else:
        runs = [r for r in runs if any(s.startswith("S7") for s in r["scenarios"])]
    if not runs:
        raise SystemExit("no such run in results.jsonl")
    run = runs[-1]
    run.setdefault("available", [n for n in run["servers"] if n not in run["unavailable"]])
    trials = [r for r in records if r.get("type") == "trial" and r["run_id"] == run["run_id"]]
    return run, trials


def counted(trials: list[dict[str, Any]], sid: str, server: str) -> dict[int, dict[str, Any]]:
    """rep -> metrics of the counted (not discarded, not failed) trial."""
    return {t["rep"]: t["metrics"] for t in trials
            if t["scenario"] == sid and t["server"] == server and "discarded" not in t
            and "metrics" in t and "error" not in t}


def fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def before_after(trials: list[dict[str, Any]]) -> str:
    lines = [
        "| measure | server | before: median (min–max) | after: median (min–max) | after vs before "
        "(medians) | per repetition |",
        "|---|---|---:|---:|---:|---|",
    ]
    for sid, key, label in ROWS:
        for after_name, before_name in PAIRS:
            after, before = counted(trials, sid, after_name), counted(trials, sid, before_name)
            a = [m[key] for m in after.values() if m.get(key) is not None]
            b = [m[key] for m in before.values() if m.get(key) is not None]
            if not a or not b:
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            per = [after[r][key] / before[r][key] - 1 for r in sorted(after) if r in before
                   and after[r].get(key) is not None and before[r].get(key)]
            lines.append(
                f"| {label} | {after_name} | {fmt(mb)} ({fmt(min(b))}–{fmt(max(b))}) | "
                f"{fmt(ma)} ({fmt(min(a))}–{fmt(max(a))}) | {(ma / mb - 1) * 100:+.1f} % | "
                + ", ".join(f"{p * 100:+.1f} %" for p in per) + " |"
            )
    return "\n".join(lines)


def main() -> int:
    run, trials = load(sys.argv[1] if len(sys.argv) > 1 else None)
    import run as runner

    print(f"run {run['run_id']} ({run['date']}): {run.get('command', '')}\n")
    print(before_after(trials))
    if runner._flood_ids(run):
        _, table, goals, notes = runner.flood_parts(run, trials)
        print("\n" + table + "\n\nGoals (issue 21):\n\n" + "\n".join(goals))
        if notes:
            print("\nNotes:\n\n" + "\n".join(f"- {n}" for n in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
