"""Issue 14's figures: envelopes and history against plain groups, on one machine.

    python bench/studies/recovery.py [--members 5000] [--reconnect 1000] [--out FILE]

Runs with the package's venv (websockets' asyncio client is the load
generator; redis-server must be installed). In one run:

- B1: broadcast to N members, plain ``join(group)`` vs ``join(group,
  recover=True)``, on one runws (memory backend): time from the broadcast
  request to the last member's frame, median of 15 broadcasts; each kind
  twice, alternating, the lower median kept (the machine is shared).
- B2: publish rate, ``broadcast()`` in a loop in this process (memory and
  Redis), with history (``history_size`` 100) and without (0).
- B3: R clients reconnecting at once, each 100 messages behind: all
  recovered?, and the time to the last one (Redis backend, one runws).
- B4: RSS per idle member, plain vs envelope (from /proc, N members).

Prints a Markdown table and appends one JSON line to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_redis(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


def server(groups: dict, db: str):
    from django_ws.testing import LiveServer

    return LiveServer(
        settings_module="tests.settings",
        env={"DJANGO_WS_TEST_DB": db},
        settings={"WEBSOCKET_GROUPS": groups, "WEBSOCKET_MAX_CONNECTIONS": None},
    )


def http(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


async def open_members(live, path: str, n: int, batch: int = 200) -> list:
    from websockets.asyncio.client import connect

    members = []
    for start in range(0, n, batch):
        chunk = await asyncio.gather(
            *(
                connect(live.ws_url(path), open_timeout=60, max_queue=None, compression=None)
                for _ in range(min(batch, n - start))
            )
        )
        for ws in chunk:
            await ws.recv()  # "joined", or the first envelope
        members.extend(chunk)
    return members


async def time_broadcasts(
    live, group: str, members: list, rounds: int = 15
) -> tuple[float, float]:
    """Medians of (request to the last member's frame, the broadcast request
    alone). The second is the server's fan-out: its view returns once every
    frame is written to its socket (delivery never blocks); the first adds
    the load generator reading 5,000 sockets on the same cores."""
    loop = asyncio.get_running_loop()
    times, requests = [], []
    for n in range(rounds):
        started = time.perf_counter()
        await loop.run_in_executor(
            None, http, live.http_url(f"/group/{group}/broadcast/?message=m{n}")
        )
        requests.append(time.perf_counter() - started)
        await asyncio.gather(*(ws.recv() for ws in members))
        times.append(time.perf_counter() - started)
    return statistics.median(times), statistics.median(requests)


async def b1_b4(db: str, n: int) -> dict:
    memory = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}
    results = {}
    # Both views read no query string (request.GET would cost the envelope
    # member alone about 0.75 KiB, kept with its request).
    kinds = (("plain", "/group/b1/member/"), ("envelope", "/group/b1/recover-member/"),
             ("plain_view", "/group/b1/member-view/"), ("envelope_view", "/group/b1/recover-view/"))
    for label, path in kinds * 2:  # twice, alternating: the machine is shared
        with server(memory, db) as live:
            base = rss_kib(live.process.pid)
            members = await open_members(live, path, n)
            await asyncio.sleep(1)
            rss = (rss_kib(live.process.pid) - base) / n
            seconds, fan_out = await time_broadcasts(live, "b1", members)
            for key, value in ((f"broadcast_{n}_s_{label}", seconds),
                               (f"broadcast_server_{n}_s_{label}", fan_out)):
                results[key] = min(results.get(key, value), value)
            results.setdefault(f"rss_per_member_kib_{label}", rss)
            await asyncio.gather(*(ws.close() for ws in members))
    results["broadcast_ratio"] = (
        results[f"broadcast_{n}_s_envelope"] / results[f"broadcast_{n}_s_plain"]
    )
    results["broadcast_ratio_view"] = (
        results[f"broadcast_{n}_s_envelope_view"] / results[f"broadcast_{n}_s_plain_view"]
    )
    for suffix in ("", "_view"):
        results[f"broadcast_server_ratio{suffix}"] = (
            results[f"broadcast_server_{n}_s_envelope{suffix}"]
            / results[f"broadcast_server_{n}_s_plain{suffix}"]
        )
    return results


def b2(redis_url: str, count: int = 20_000) -> dict:
    import django

    django.setup()
    from django_ws.groups.memory import MemoryBackend
    from django_ws.groups.redis import RedisBackend

    results = {}
    for engine, make in (
        ("memory", lambda o: MemoryBackend("b", o)),
        ("redis", lambda o: RedisBackend("b", {"url": redis_url, "prefix": "b2:", **o})),
    ):
        for label, size in (("history", 100), ("no_history", 0)):
            backend = make({"history_size": size})
            total = count if engine == "memory" else count // 4
            backend.broadcast("warm", b"x", text=True, kind="s")
            started = time.perf_counter()
            for n in range(total):
                backend.broadcast(f"g{n % 10}", b'{"n": 1}', text=True, kind="j")
            results[f"publish_per_s_{engine}_{label}"] = total / (time.perf_counter() - started)
            backend.close()
        results[f"publish_ratio_{engine}"] = (
            results[f"publish_per_s_{engine}_history"]
            / results[f"publish_per_s_{engine}_no_history"]
        )
    return results


async def b3(db: str, redis_url: str, clients: int, behind: int = 100) -> dict:
    from websockets.asyncio.client import connect

    groups = {
        "default": {
            "BACKEND": "django_ws.groups.redis.RedisBackend",
            "OPTIONS": {"url": redis_url, "prefix": "b3:", "history_size": 200},
        }
    }
    loop = asyncio.get_running_loop()
    with server(groups, db) as live:
        first = http(live.http_url("/group/b3/broadcast/?message=start"))["position"]
        for n in range(behind):
            await loop.run_in_executor(
                None, http, live.http_url(f"/group/b3/broadcast/?message=m{n}")
            )

        async def reconnect():
            ws = await connect(
                live.ws_url(f"/group/b3/envelope/?since={first}"),
                open_timeout=120,
                max_queue=None,
                compression=None,
            )
            state = json.loads(await ws.recv())
            got = [json.loads(await ws.recv()) for _ in range(behind)]
            await ws.close()
            return state["recovered"] and [e["data"] for e in got] == [
                f"m{n}" for n in range(behind)
            ]

        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(reconnect() for _ in range(clients)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        failed = [o for o in outcomes if o is not True]
        if failed:
            print(f"B3: {len(failed)} of {clients} failed, e.g. {failed[0]!r}", file=sys.stderr)
            with open(os.path.join(tempfile.gettempdir(), "bench_recovery_b3.log"), "w") as f:
                f.write(live.log())
            errors = [line for line in live.log().splitlines() if "rror" in line]
            print("\n".join(errors[:20]), file=sys.stderr)
    return {
        f"reconnect_{clients}x{behind}_all_recovered": all(o is True for o in outcomes),
        f"reconnect_{clients}x{behind}_s": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--reconnect", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "studies", "recovery.jsonl"))
    parser.add_argument("--parts", default="b1b4,b2,b3", help="which figures, comma-separated")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    folder = tempfile.mkdtemp(prefix="bench_recovery_")
    db = os.path.join(folder, "db.sqlite3")
    env = {**os.environ, "DJANGO_WS_TEST_DB": db}
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v0"], env=env, check=True, cwd=ROOT
    )
    os.environ["DJANGO_WS_TEST_DB"] = db
    redis, redis_url = start_redis(folder)
    try:
        results = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpus": os.cpu_count(),
        }
        if "b1b4" in parts:
            results.update(asyncio.run(b1_b4(db, args.members)))
        if "b2" in parts:
            results.update(b2(redis_url))
        if "b3" in parts:
            results.update(asyncio.run(b3(db, redis_url, args.reconnect)))
    finally:
        redis.kill()
        redis.wait()
    with open(args.out, "a") as out:
        out.write(json.dumps(results) + "\n")
    print("| figure | value |\n|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")


if __name__ == "__main__":
    main()
