"""glibc malloc thresholds for large messages (django_ws.process.malloc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from django_ws.process.malloc import tune_malloc

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")


def run(code, **env):
    # In a child: the thresholds are process-wide and stay set.
    result = subprocess.run([sys.executable, "-c", code], env={"PATH": "", **env},
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()


@glibc
def test_sets_the_thresholds_on_glibc():
    assert run("from django_ws.process.malloc import tune_malloc; print(tune_malloc())") == "True"


def test_leaves_an_operators_settings_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    assert tune_malloc() is False


@glibc
def test_large_messages_no_longer_fault_their_memory_in_each_time():
    # What the thresholds are for: the buffers of a 1 MiB message as the
    # parser makes them (a buffer fed by 64 KiB reads, the payload cut from
    # it, the unmasked copy). Counted in page faults, not in time.
    code = """
import resource, sys
from django_ws.process.malloc import tune_malloc
if sys.argv[-1] == "tune":
    tune_malloc()
chunk = b"x" * 65536
def message():
    buffer = bytearray()
    for _ in range(17):
        buffer += chunk
    payload = bytes(buffer[:1 << 20])
    del buffer[:1 << 20]
    return len(payload.upper())
for _ in range(20):
    message()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    message()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

    def faults(mode):
        result = subprocess.run([sys.executable, "-c", code, mode], capture_output=True,
                                text=True, timeout=60, check=True)
        return int(result.stdout)

    default, tuned = faults("default"), faults("tune")
    assert tuned < 1000 < default, (default, tuned)  # measured: 0 and about 150,000
