"""Process plumbing: start by PID, stop by PID, pin to cores, read /proc.

Every process the suite starts is recorded in LIVE and stopped by its own PID
(plus the PIDs of its descendants, found through /proc) in stop() or
stop_all(); nothing is ever killed by name. PR_SET_PDEATHSIG makes the kernel
SIGTERM a child if the orchestrator itself dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1
# 5,000 connections need ~5,000 descriptors in the server and in the client.
NOFILE_WANTED = 65536

LIVE: dict[int, subprocess.Popen[bytes]] = {}
_libc = ctypes.CDLL(None, use_errno=True)


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE for this process; children inherit it. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (max(NOFILE_WANTED, hard), hard):
        try:
            # Raising the hard limit works as root; otherwise fall back to it.
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard)))
            return target
        except (ValueError, OSError):
            continue
    return soft


def _child_setup(cpus: set[int] | None, nofile: int | None = None) -> Callable[[], None]:
    def setup() -> None:
        # Runs in the child between fork and exec.
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if cpus:
            os.sched_setaffinity(0, cpus)
        if nofile:
            # What `prlimit --nofile=N:N -- cmd` does. Raising the hard limit
            # needs CAP_SYS_RESOURCE (root usually has it; a container may
            # not): then the soft limit goes up to the hard one.
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            except (ValueError, OSError):
                _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    return setup


def spawn(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    cpus: set[int] | None = None,
    log_path: Path | None = None,
    pipes: bool = False,
    nofile: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start a process pinned to `cpus`, in its own session so a terminal Ctrl-C
    reaches only the orchestrator, which then stops it by PID."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    # Closed in the finally below once the child holds its own descriptor.
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            cmd,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log,
            preexec_fn=_child_setup(cpus, nofile),
            start_new_session=True,
        )
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    LIVE[proc.pid] = proc
    return proc


def descendants(pid: int) -> list[int]:
    """PIDs of all descendants of pid (children first level by level), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        nxt: list[int] = []
        for p in frontier:
            nxt.extend(parents.get(p, []))
        found.extend(nxt)
        frontier = nxt
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, sig)


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process and its descendants by PID, SIGKILL what is left after `grace`."""
    if proc.poll() is None:
        kids = descendants(proc.pid)
        _signal(proc.pid, signal.SIGTERM)
        for kid in kids:
            _signal(kid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal(proc.pid, signal.SIGKILL)
            proc.wait(5)
        for kid in kids:
            if Path(f"/proc/{kid}").exists():
                _signal(kid, signal.SIGKILL)
    for pipe in (proc.stdin, proc.stdout):
        if pipe:
            with contextlib.suppress(OSError):
                pipe.close()
    LIVE.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(LIVE.values()):
        stop(proc, grace=2.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(proc: subprocess.Popen[bytes], port: int, timeout: float) -> str | None:
    """Wait until 127.0.0.1:port accepts. Returns None, or why the server is not there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with code {proc.returncode} before listening"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.05)
    return f"not listening on port {port} after {timeout:.0f}s"


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def cpu_seconds(pid: int) -> float:
    """utime+stime of pid and its descendants (all threads are included in each)."""
    total = 0
    for p in _tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return total / _CLK_TCK


def busy_seconds(cores: set[int]) -> float:
    """CPU time `cores` spent busy (user+nice+system+irq+softirq+steal), from /proc/stat.

    Compared with the server's and client's own CPU time on the same cores it
    shows how much else ran there during a measurement (another job on the
    box skews every figure). Cores the trial does not use are left out: load
    there does not compete with it.
    """
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *fields = line.split()
            if name == "cpu" or int(name[3:]) not in cores:
                continue
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
            total += user + nice + system + irq + softirq + steal
    return total / _CLK_TCK


def rss_kib(pid: int) -> int:
    """VmRSS of pid and its descendants, in KiB (from /proc/PID/status)."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def nofile_limits(pid: int) -> tuple[int, int] | None:
    """(soft, hard) RLIMIT_NOFILE of a running process, from /proc/PID/limits (-1: unlimited)."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return (-1 if soft == "unlimited" else int(soft), -1 if hard == "unlimited" else int(hard))
    except OSError:
        pass
    return None


def log_tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])
