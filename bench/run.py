#!/usr/bin/env python3
"""WebSocket benchmark suite for django_ws and its peers. See bench/README.md.

    python3 bench/run.py --setup                  # once: bench/.venv with the peers
    python3 bench/run.py [--quick] [--servers a,b] [--scenarios S1,S2] [--reps N] [--baseline NAME]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import Any

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv"
VENV_PYTHON = VENV / "bin" / "python"


def setup_venv() -> None:
    """Create bench/.venv and install bench/requirements.txt with the ordinary pip client."""
    if not VENV_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements.txt")], check=True
    )
    print(f"ready: {VENV_PYTHON}")


def ensure_venv_python() -> None:
    """The load generator and the peers live in bench/.venv: re-exec there if needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PYTHON.exists():
        raise SystemExit("bench/.venv is missing: run `python3 bench/run.py --setup` first")
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", action="store_true", help="create bench/.venv with the peers and exit")
    p.add_argument("--quick", action="store_true", help="1 repetition, shorter phases (~3 min)")
    p.add_argument("--servers", help="comma list (default: all); see --list")
    p.add_argument("--scenarios", help="comma list of S1,S2,S3,S4,S5 (S5 = S5s,S5p) or S5s/S5p, and the "
                   "opt-in S6 (scale) and S7 (a hostile neighbour: S7 = S7a,S7b,S7c), not part of the "
                   "default run")
    p.add_argument("--reps", type=int, help="repetitions per cell (default 3, quick 1)")
    p.add_argument("--baseline", default="django_ws", help="ratio baseline (falls back to the first available)")
    p.add_argument("--noise-limit", type=float, default=25.0,
                   help="re-run a trial when other processes used more than this %% of a core (default 25)")
    p.add_argument("--noise-retries", type=int,
                   help="re-runs per noisy trial (default 1; --quick: 0, to stay within ~3 min)")
    p.add_argument("--scale-steps", metavar="N,N,...",
                   help="S6's connection counts (default 1000,5000,10000,50000)")
    p.add_argument("--no-save", action="store_true", help="don't write results.jsonl / RESULTS.md")
    p.add_argument("--list", action="store_true", help="list servers and scenarios and exit")
    p.add_argument("--render", nargs="?", const="", metavar="RUN_ID",
                   help="only rebuild RESULTS.md from results.jsonl (latest complete run, or RUN_ID)")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if args.setup:
        setup_venv()
        return 0
    ensure_venv_python()

    sys.path.insert(0, str(BENCH))
    from harness import machine, procs, report, runner, scenarios, trial
    from harness.servers import SERVERS

    if args.render is not None:
        return rerender(args.render or None)

    if args.list:
        for s in SERVERS.values():
            print(f"server   {s.name:18} {s.description}")
        for sc in scenarios.SCENARIOS.values():
            print(f"scenario {sc.id:18} {sc.title} (cores: {sc.placement})")
        return 0

    names = [n.strip() for n in args.servers.split(",")] if args.servers else list(SERVERS)
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown server(s) {unknown}; known: {', '.join(SERVERS)}")
    selected = scenarios.select(args.scenarios)
    if args.scale_steps:
        import dataclasses

        steps = sorted({int(x) for x in args.scale_steps.split(",")})
        selected = [dataclasses.replace(sc, full={**sc.full, "steps": steps}) if sc.kind == "scale" else sc
                    for sc in selected]
    reps = args.reps or (1 if args.quick else 3)
    if args.noise_retries is None:
        args.noise_retries = 0 if args.quick else 1

    # Ctrl-C / SIGTERM: unwind through the finally below, which stops every child by PID.
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT explicitly too: a shell that starts us in the background ignores it otherwise.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    nofile = procs.raise_nofile()

    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    log_dir = BENCH / "logs" / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    prune_logs(BENCH / "logs", keep=5)
    places = trial.placements()
    place_text = {k: f"server {sorted(v.server)} / client {sorted(v.client)}" for k, v in places.items()}
    started = time.monotonic()
    # Other work on the machine skews every figure: keep the load average as a noise indicator.
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    trials: list[dict[str, object]] = []
    unavailable: dict[str, str] = {}
    notes: list[str] = []
    no_broadcast: dict[str, str] = {}
    noisy_kept: dict[str, int] = {}  # scenario -> trials counted although noisy
    print(f"run {run_id}: servers={names} scenarios={[s.id for s in selected]} reps={reps} "
          f"quick={args.quick} nofile={nofile} logs={log_dir}", flush=True)

    try:
        for name in names:
            reason, bcast_problem = trial.preflight(SERVERS[name], log_dir)
            if reason:
                unavailable[name] = reason
                print(f"  {name}: UNAVAILABLE: {reason}", flush=True)
            else:
                print(f"  {name}: ok" + (f" (broadcast: {bcast_problem})" if bcast_problem else ""), flush=True)
                if bcast_problem:
                    no_broadcast[name] = bcast_problem
                    notes.append(f"{name}: S4 skipped, {bcast_problem}")
        available = [n for n in names if n not in unavailable]
        if not available:
            print("no server available", flush=True)
            return 1
        baseline = args.baseline if args.baseline in available else available[0]
        if baseline != args.baseline:
            notes.append(f"baseline {args.baseline} not available in this run; ratios are against {baseline}")

        # Re-runs are capped at a fifth of the planned trials, so a machine that
        # stays busy costs at most ~20 % more time instead of doubling the run.
        planned = reps * sum(
            1 for sc in selected for n in available
            if not sc.skip_reason(SERVERS[n], n not in no_broadcast)
        )
        retry_budget = -(-planned // 5) if args.noise_retries else 0
        for sc in selected:
            for rep in range(reps):
                # Rotate the order each repetition so no server always runs first or last.
                order = available[rep % len(available):] + available[: rep % len(available)]
                for name in order:
                    server = SERVERS[name]
                    rec: dict[str, object] = {"type": "trial", "run_id": run_id, "scenario": sc.id,
                                              "server": name, "rep": rep}
                    skip = sc.skip_reason(server, name not in no_broadcast)
                    if skip:
                        rec["skipped"] = skip
                        trials.append(rec)
                        continue
                    attempts: list[dict[str, object]] = []
                    for attempt in range(args.noise_retries + 1):
                        if attempt and retry_budget <= 0:
                            break  # the machine is busy for good: re-runs would only lengthen the run
                        if attempt:
                            retry_budget -= 1
                        if attempt:
                            time.sleep(NOISE_BACKOFF_S)  # give a burst of foreign load time to pass
                        t0 = time.monotonic()
                        one = dict(rec, attempt=attempt)
                        one.update(runner.run_trial(server, sc, args.quick, places, log_dir,
                                                   f"{sc.id}-{name}-{rep}-{attempt}"))
                        one["wall_s"] = round(time.monotonic() - t0, 2)
                        attempts.append(one)
                        again = " (re-run)" if attempt else ""
                        print(f"  {sc.id} rep {rep + 1}/{reps} {name:17} {describe(one)}{again}", flush=True)
                        if noise(one) <= args.noise_limit:
                            break
                    # Count the quietest attempt; keep the others in the JSON lines, flagged.
                    kept = min(attempts, key=noise)
                    for one in attempts:
                        if one is not kept:
                            one["discarded"] = f"noisy: other CPU {noise(one):.0f}% > {args.noise_limit:.0f}%"
                    if noise(kept) > args.noise_limit:
                        noisy_kept[sc.id] = noisy_kept.get(sc.id, 0) + 1
                    trials.extend(attempts)
    except KeyboardInterrupt as exc:
        procs.stop_all()
        print(f"\ninterrupted ({exc}); servers stopped", flush=True)
        if trials and not args.no_save:
            # Keep what was measured; RESULTS.md stays the last complete run's.
            report.append_jsonl(BENCH / "results.jsonl", [
                {"type": "run", "run_id": run_id, "interrupted": True, "quick": args.quick, "reps": reps,
                 "date": dt.datetime.now().astimezone().isoformat(timespec="seconds")},
                *trials,
            ])
        return 130
    finally:
        procs.stop_all()

    wall = time.monotonic() - started
    retried = sum(1 for t in trials if "discarded" in t)
    if retried:
        notes.append(f"{retried} trial(s) re-run because other processes used > {args.noise_limit:.0f}% "
                     f"of a core meanwhile (kept the quieter attempt; all are in results.jsonl)")
    if noisy_kept:
        per = ", ".join(f"{sid}: {n}" for sid, n in noisy_kept.items())
        notes.append(f"trials counted although other CPU stayed > {args.noise_limit:.0f}% "
                     f"(see the 'other CPU %' column): {per}")
    command = ("python3 bench/run.py " + " ".join(sys.argv[1:])).strip()
    from harness.servers import BASELINE_ROOT

    if BASELINE_ROOT and any(n.endswith("_base") for n in available):
        # Which build the *_base servers were: the command line does not say.
        rev = subprocess.run(["git", "-C", BASELINE_ROOT, "log", "-1", "--format=%h %s"],
                             capture_output=True, text=True, timeout=30).stdout.strip()[:100]
        notes.append(f"*_base servers: django_ws from BENCH_BASELINE_ROOT={BASELINE_ROOT}"
                     + (f" (commit {rev})" if rev else ""))
        command = f"BENCH_BASELINE_ROOT={BASELINE_ROOT} {command}"
    run = {"type": "run", "run_id": run_id, "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": command, "quick": args.quick, "reps": reps, "servers": names,
           "scenarios": [s.id for s in selected], "available": available, "baseline": baseline,
           "unavailable": unavailable, "notes": notes, "wall_s": wall, "placements": place_text,
           "machine": machine.describe() if not args.no_save else {},
           "loadavg_before": load_before, "loadavg_after": Path("/proc/loadavg").read_text().split()[:3]}
    summaries, text = render(run, trials)
    print("\n" + text, flush=True)
    if not args.no_save:
        summary_recs = [
            {"type": "summary", "run_id": run_id, "scenario": sid, "server": name, "ok": entry["ok"],
             "runs": entry["runs"], "stats": entry["stats"], "errors": entry["errors"]}
            for sid, per in summaries.items() for name, entry in per.items()
        ]
        report.append_jsonl(BENCH / "results.jsonl", [run, *trials, *summary_recs])
        write_results_md(run, trials)
        print(f"wrote {BENCH / 'results.jsonl'} and {BENCH / 'RESULTS.md'}", flush=True)
    return 0


def _main_ids(run: dict[str, Any]) -> list[str]:
    from harness import scenarios

    return [sid for sid in run["scenarios"] if scenarios.SCENARIOS[sid].kind not in ("scale", "flood")]


def _flood_ids(run: dict[str, Any]) -> list[str]:
    from harness import scenarios

    return [sid for sid in run["scenarios"] if scenarios.SCENARIOS[sid].kind == "flood"]


def _covers_main(run: dict[str, Any]) -> bool:
    """The run measured every scenario of a default run (S1-S5): its tables can stand for the suite."""
    from harness import scenarios

    wanted = {sc.id for sc in scenarios.SCENARIOS.values() if sc.default}
    return wanted <= set(run["scenarios"])


def _scale_ids(run: dict[str, Any]) -> list[str]:
    from harness import scenarios

    return [sid for sid in run["scenarios"] if scenarios.SCENARIOS[sid].kind == "scale"]


def render(run: dict[str, Any], trials: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Summaries and the printable tables + ceiling for one run's trials."""
    from harness import report, scenarios
    from harness.servers import SERVERS

    available = run["available"]
    selected = [scenarios.SCENARIOS[sid] for sid in _main_ids(run)]
    summaries = {sc.id: report.summarize(trials, sc, available) for sc in selected}
    parts = []
    if selected:
        table = report.markdown(selected, summaries, run["baseline"], run["placements"], run["unavailable"],
                                run["notes"])
        tcp = {n for n in available if n in SERVERS and SERVERS[n].transport == "tcp"}
        parts.append(f"{table}\nload-generator ceiling: {ceiling_text(summaries, tcp)}")
    for sid in _scale_ids(run):
        sc = scenarios.SCENARIOS[sid]
        summaries[sid] = report.summarize(trials, sc, available)
        table, goals, notes = scale_parts(run, trials, sid, summaries[sid])
        parts.append("\n".join([table, "", *goals, *(f"- {n}" for n in notes)]))
    if _flood_ids(run):
        flood_summaries, table, goals, notes = flood_parts(run, trials)
        summaries.update(flood_summaries)
        parts.append("\n".join([table, "", *goals, *(f"- {n}" for n in notes)]))
    return summaries, "\n\n".join(parts) + f"\nwall time {run['wall_s']:.0f} s"


def flood_parts(
    run: dict[str, Any], trials: list[dict[str, Any]]
) -> tuple[dict[str, Any], str, list[str], list[str]]:
    """S7's summaries, its one table (every flood variant of the run), the goals and the notes."""
    from harness import report, scenarios

    selected = [scenarios.SCENARIOS[sid] for sid in _flood_ids(run)]
    summaries = {sc.id: report.summarize(trials, sc, run["available"]) for sc in selected}
    table = report.flood_table(selected, summaries, trials, run["placements"][selected[0].placement])
    notes: list[str] = []
    for t in trials:
        if t.get("scenario") in summaries and "discarded" not in t and "error" in t:
            notes.append(f"{t['scenario']} {t['server']} rep {t['rep'] + 1}: {str(t['error'])[:200]}")
    notes += [n for n in run["notes"] if n not in notes]
    return summaries, table, report.flood_goals(selected, summaries), notes


def scale_parts(
    run: dict[str, Any], trials: list[dict[str, Any]], sid: str, summary: dict[str, Any]
) -> tuple[str, list[str], list[str]]:
    from harness import report, scenarios

    sc = scenarios.SCENARIOS[sid]
    table = report.scale_table(sc, summary, run["placements"][sc.placement])
    notes: list[str] = []
    for t in trials:
        if t.get("scenario") == sid and "discarded" not in t:
            for n in t.get("notes", []):
                if n not in notes:
                    notes.append(n)
            if "error" in t:
                notes.append(f"{t['server']} rep {t['rep'] + 1}: {str(t['error'])[:200]}")
            if t.get("client_procs"):
                note = f"{t['server']}: {t['client_procs']} load-generator process(es)"
                if note not in notes:
                    notes.append(note)
    notes += [n for n in run["notes"] if n not in notes]
    return table, report.scale_goals(summary), notes


def _load_records() -> list[dict[str, Any]]:
    import json

    path = BENCH / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _complete_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    runs = [r for r in records if r.get("type") == "run" and not r.get("interrupted")]
    for run in runs:
        # Runs saved before "available" was recorded: every server minus the unavailable ones.
        run.setdefault("available", [n for n in run["servers"] if n not in run["unavailable"]])
    return runs


def _trials(records: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("type") == "trial" and r["run_id"] == run_id]


def write_results_md(run: dict[str, Any], trials: list[dict[str, Any]]) -> None:
    """RESULTS.md: S1-S5 from the latest run that had them all, S6 and S7 from the latest run with each.

    S6 and S7 are opt-in and usually run on their own, so any part may come
    from an earlier run in results.jsonl than the one just made (`run`). A run
    of only some of S1-S5 (a before/after of two builds, say) leaves the main
    tables to the latest run that had them all; its own figures stay in
    results.jsonl (and `--render RUN_ID` shows them).
    """
    from harness import report

    records = _load_records()
    runs = _complete_runs(records)
    main_run = run if _covers_main(run) else next((r for r in reversed(runs) if _covers_main(r)), None)
    if main_run is None:  # no complete one yet: the latest with any of them
        main_run = run if _main_ids(run) else next((r for r in reversed(runs) if _main_ids(r)), None)
    scale_run = run if _scale_ids(run) else next((r for r in reversed(runs) if _scale_ids(r)), None)
    flood_run = run if _flood_ids(run) else next((r for r in reversed(runs) if _flood_ids(r)), None)
    parts = []
    if main_run is not None:
        main_trials = trials if main_run is run else _trials(records, main_run["run_id"])
        only_main = dict(main_run, scenarios=_main_ids(main_run))
        summaries, text = render(only_main, main_trials)
        table, _, rest = text.partition("\nload-generator ceiling: ")
        ceiling = rest.rsplit("\nwall time", 1)[0]
        parts.append(report.results_md(table, main_run, main_run["machine"],
                                       main_run.get("command", "python3 bench/run.py"), main_run["baseline"],
                                       ceiling))
    else:
        parts.append("# Benchmark results\n\nGenerated by `bench/run.py`; see bench/README.md.\n")
    if scale_run is not None:
        scale_trials = trials if scale_run is run else _trials(records, scale_run["run_id"])
        for sid in _scale_ids(scale_run):
            from harness import scenarios

            summary = report.summarize(scale_trials, scenarios.SCENARIOS[sid], scale_run["available"])
            table, goals, notes = scale_parts(scale_run, scale_trials, sid, summary)
            plot_name = "scale.png"
            plotted = report.scale_plot(summary, BENCH / plot_name,
                                        f"{sid}, run {scale_run['run_id']} ({scale_run['date']}), "
                                        f"{scale_run['machine'].get('cores', '?')} cores")
            parts.append(report.scale_md(table, goals, notes, scale_run, scale_run["machine"],
                                         scale_run.get("command", "python3 bench/run.py --scenarios S6"),
                                         plot_name if plotted else None))
    if flood_run is not None:
        flood_trials = trials if flood_run is run else _trials(records, flood_run["run_id"])
        _, table, goals, notes = flood_parts(flood_run, flood_trials)
        parts.append(report.flood_md(table, goals, notes, flood_run,
                                     flood_run.get("command", "python3 bench/run.py --scenarios S7")))
    # The figures of the scripts that measure one change beside run.py (each
    # writes its own page): kept in RESULTS.md too, a level down.
    for name in REPORTS:
        page = BENCH / name
        if page.exists():
            text = page.read_text()
            parts.append("#" + text if text.startswith("# ") else text)
    (BENCH / "RESULTS.md").write_text("\n".join(parts))


#: The studies' pages (bench/studies/: written by hand or by their own
#: scripts), in the order RESULTS.md shows them.
REPORTS = ("studies/CORE.md", "studies/RECOVERY.md", "studies/FAIRNESS.md")


def rerender(run_id: str | None) -> int:
    """Rebuild RESULTS.md from results.jsonl (the latest complete runs, or run_id for its part)."""
    records = _load_records()
    runs = _complete_runs(records)
    if run_id:
        runs = [r for r in runs if r["run_id"] == run_id]
    if not runs:
        raise SystemExit("no such complete run in results.jsonl")
    run = runs[-1]
    trials = _trials(records, run["run_id"])
    write_results_md(run, trials)
    print(render(run, trials)[1])
    print(f"wrote {BENCH / 'RESULTS.md'} (run {run['run_id']} and the latest run of the other part)")
    return 0


NOISE_BACKOFF_S = 3.0


def noise(rec: dict[str, object]) -> float:
    """Other processes' CPU use during the trial, in % of a core (0 when unknown)."""
    m = rec.get("metrics")
    value = m.get("other_util") if isinstance(m, dict) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


def prune_logs(root: Path, keep: int) -> None:
    """Keep the newest `keep` run log folders (names start with a sortable timestamp)."""
    import shutil

    for old in sorted(p for p in root.iterdir() if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def describe(rec: dict[str, object]) -> str:
    """One progress line per trial."""
    m = rec.get("metrics")
    text = ""
    if isinstance(m, dict):
        keys = {
            "S3": ("mib_s", "srv_cpu_ms_mib", "cli_util", "other_util"),
            "S4": ("conns", "rss_kib_conn", "bcast_last_ms", "conn_rate", "other_util"),
            **dict.fromkeys(("S7a", "S7b", "S7c"), ("rate", "p99_us", "f_rate", "f_p99_us", "p99_ratio",
                                                   "close_code", "closed_after_ms", "flood_frames_s",
                                                   "flood_mib_s", "flooder_util", "other_util")),
        }.get(str(rec["scenario"]), ("rate", "p50_us", "p50_ms", "srv_cpu_us_op", "cli_util", "other_util"))
        text = " ".join(f"{k}={m[k]:.4g}" for k in keys if isinstance(m.get(k), (int, float)))
    steps = rec.get("steps")
    if rec.get("scenario") == "S6" and isinstance(steps, list):
        text = "; ".join(f"{s['conns']:,} held, {s['rss_kib_conn']:.2f} KiB/conn, {s['hs_rate'] or 0:,.0f} hs/s, "
                         f"bcast {s['bcast_last_ms'] or -1:.0f} ms" for s in steps)
    if "error" in rec:
        text += f" ERROR: {str(rec['error'])[:300]}"
    return f"{text} [{rec.get('wall_s', 0)}s]"


def ceiling_text(summaries: dict[str, dict[str, dict[str, Any]]], tcp_servers: set[str]) -> str:
    """What the load generator could drive, from the cells where it worked hardest.

    For each scenario and client mode (WebSocket, raw TCP) take the fastest
    server: rate / client CPU share is the rate at which the client alone
    would fill its core. An estimate (costs are not perfectly linear), but a
    server figure well below it was not limited by the client.
    """
    parts = []
    for sid, per in summaries.items():
        key = "mib_s" if sid == "S3" else "rate"
        unit = " MiB/s" if sid == "S3" else "/s"
        found = []
        for mode in ("ws", "tcp"):
            best: tuple[float, str, float] | None = None
            for name, entry in per.items():
                if (name in tcp_servers) != (mode == "tcp"):
                    continue
                stats = entry["stats"]
                util = stats.get("cli_util", {}).get("median")
                if key in stats and util:
                    rate = stats[key]["median"]
                    if best is None or rate > best[0]:  # the fastest server stresses the client most
                        best = (rate, name, util)
            if best:
                rate, name, util = best
                found.append(f"{mode.upper()} {rate:,.0f}{unit} vs {name} at {util:.0f}% client CPU "
                             f"→ ≈{rate / (util / 100):,.0f}{unit}")
        if found:
            parts.append(f"{sid}: " + "; ".join(found))
    return " | ".join(parts) if parts else "n/a"


if __name__ == "__main__":
    sys.exit(main())
