"""What the figures were measured on: CPU, cores, kernel, Python and library versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from .servers import DJANGO_WS_VENV

PEER_PACKAGES = (
    "picows", "uvloop", "websockets", "gevent", "greenlet", "Django", "channels",
    "daphne", "Twisted", "uvicorn", "httptools", "Flask", "flask-sock", "simple-websocket",
)
DJANGO_WS_PACKAGES = ("django-websocket-views", "Django", "gevent", "greenlet", "websockets")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def _django_ws_versions() -> dict[str, str]:
    python = DJANGO_WS_VENV / "bin" / "python"
    if not python.exists():
        return {"python": "missing"}
    code = (
        "import json, platform, importlib.metadata as m\n"
        f"names = {DJANGO_WS_PACKAGES!r}\n"
        "out = {'python': platform.python_version()}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))\n"
    )
    try:
        res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=30)
        versions: dict[str, str] = json.loads(res.stdout)
        return versions
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {"python": "unreadable"}


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "peer_versions": _versions(PEER_PACKAGES),
        "django_ws_venv": _django_ws_versions(),
    }
