"""What the metrics cost: bench S2's server CPU per message, metrics on vs off, in one run.

    bench/.venv/bin/python bench/studies/metrics_cost.py [--pairs 4] [--quick]

S2 (100 connections, closed-loop ping-pong of 32-byte text, the load
generator of ``bench/client/loadgen.py`` on the other core) against two
builds of django_ws on the same bench project, each run in a fresh server:

- **on**: this checkout, counting (per connection and per process), with
  ``/metrics/`` mounted and scraped over HTTP with the bearer token every
  second while the trial runs (Prometheus' default is every 15 s);
- **off**: the same project on the django_ws of ``--base`` (default: the
  commit before the metrics, ``git archive`` into a temporary directory,
  first on ``PYTHONPATH``): no counting at all.

The two alternate in ABBA order (on, off, off, on, ...) so that a drift of
the shared machine lands on both; the figures are per trial, then the median
of each side, their ratio and the spread of the per-pair ratios. Nothing
here asserts. Every phase is bounded by the harness (time and count), the
servers and clients are stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]  # the suite: bench/
sys.path.insert(0, str(BENCH))

from harness import procs, runner, trial  # noqa: E402
from harness.scenarios import SCENARIOS  # noqa: E402
from harness.servers import DJANGO_WS_VENV, REPO, SERVERS_DIR, Server  # noqa: E402

TOKEN = "bench-metrics-token-0123456789"
BASE = "ea127dd"  # the last commit before django_ws.metrics


def server(name: str, django_ws_root: Path, *, metrics: bool) -> Server:
    """runws on the bench project, with django_ws from ``django_ws_root``."""
    env = {"PYTHONPATH": f"{SERVERS_DIR / 'django_ws_project'}{os.pathsep}{django_ws_root}"}
    if metrics:
        env["BENCH_DJWS_METRICS"] = TOKEN
    return Server(
        name,
        f"django_ws from {django_ws_root}, metrics {'on' if metrics else 'off'}",
        (
            str(DJANGO_WS_VENV / "bin" / "django-admin"),
            "runws",
            "127.0.0.1:{port}",
            "--noreload",
            "--no-access-log",
            "--settings=bench_djws.settings",
        ),
        env=env,
    )


class Scraper(threading.Thread):
    """GET /metrics/ with the token every second, on the port the trial picked."""

    def __init__(self, ports: list[int], interval: float) -> None:
        super().__init__(daemon=True)
        self.ports, self.interval = ports, interval
        self.stopping = threading.Event()
        self.ok = self.failed = 0

    def run(self) -> None:
        deadline = time.monotonic() + 120  # bounded, whatever happens to the trial
        while not self.stopping.wait(self.interval) and time.monotonic() < deadline:
            if not self.ports:
                continue
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.ports[-1]}/metrics/",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = response.read()
                self.ok += b"django_ws_messages_received_total" in body
            except OSError:
                self.failed += 1  # the server is not up yet, or already stopping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=4, help="on/off pairs (ABBA order)")
    parser.add_argument("--quick", action="store_true", help="S2's quick phases (2 s)")
    parser.add_argument("--base", default=BASE, help="the commit whose django_ws is 'off'")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="djws-base-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", args.base, "django_ws"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True, timeout=60)
    on, off = server("metrics_on", REPO, metrics=True), server("metrics_off", base, metrics=False)
    scenario = SCENARIOS["S2"]
    places = trial.placements()
    log_dir = Path(tempfile.mkdtemp(prefix="djws-metrics-cost-"))

    ports: list[int] = []
    free_port = procs.free_port

    def recording_free_port() -> int:
        port = free_port()
        ports.append(port)
        return port

    procs.free_port = recording_free_port  # the scraper needs the trial's port

    order = []
    for pair in range(args.pairs):
        order += [on, off] if pair % 2 == 0 else [off, on]
    figures: dict[str, list[float]] = {"metrics_on": [], "metrics_off": []}
    rates: dict[str, list[float]] = {"metrics_on": [], "metrics_off": []}
    print(
        f"S2 ({'quick' if args.quick else 'full'}), {args.pairs} pairs, off = django_ws of "
        f"{args.base}; logs in {log_dir}"
    )
    print(
        f"{'#':>2}  {'build':<12} {'msgs/s':>9} {'server µs/msg':>14} {'other CPU %':>11}"
        f" {'scrapes':>7}"
    )
    try:
        for n, candidate in enumerate(order):
            ports.clear()
            scraper = Scraper(ports, args.interval) if candidate is on else None
            if scraper is not None:
                scraper.start()
            try:
                result = runner.run_trial(
                    candidate, scenario, args.quick, places, log_dir, f"{n:02d}-{candidate.name}"
                )
            finally:
                if scraper is not None:
                    scraper.stopping.set()
                    scraper.join(5)
            metrics = result.get("metrics")
            if metrics is None:
                print(f"{n:>2}  {candidate.name:<12} error: {result.get('error')}")
                continue
            figures[candidate.name].append(metrics["srv_cpu_us_op"])
            rates[candidate.name].append(metrics["rate"])
            scrapes = "-" if scraper is None else f"{scraper.ok}"
            print(
                f"{n:>2}  {candidate.name:<12} {metrics['rate']:>9.0f} "
                f"{metrics['srv_cpu_us_op']:>14.2f} {metrics['other_util']:>11.1f} {scrapes:>7}"
            )
    finally:
        procs.free_port = free_port
        procs.stop_all()
    on_us, off_us = figures["metrics_on"], figures["metrics_off"]
    if not on_us or not off_us:
        print("not enough trials for a ratio")
        return
    pair_ratios = [a / b for a, b in zip(on_us, off_us, strict=False)]
    print()
    print(
        f"server CPU µs/msg  on: median {statistics.median(on_us):.2f} "
        f"(min {min(on_us):.2f}, max {max(on_us):.2f})"
    )
    print(
        f"                  off: median {statistics.median(off_us):.2f} "
        f"(min {min(off_us):.2f}, max {max(off_us):.2f})"
    )
    print(
        f"on/off ratio of the medians: {statistics.median(on_us) / statistics.median(off_us):.3f}"
        f"; per pair: {', '.join(f'{r:.3f}' for r in pair_ratios)}"
    )
    print(
        f"msgs/s median  on: {statistics.median(rates['metrics_on']):.0f}, "
        f"off: {statistics.median(rates['metrics_off']):.0f}"
    )


if __name__ == "__main__":
    main()
