"""The servers under comparison and how to start each one on a given port.

Every WebSocket server exposes the same routes:
  /ws/echo/               echo every text/binary message
  /ws/bcast/              join the broadcast group, send "ready", then idle
  POST /broadcast/?msg=X  send X to every /ws/bcast/ member
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
SERVERS_DIR = BENCH / "servers"
# Peers run in the suite's own venv; django_ws runs from the package's venv.
PEER_PYTHON = sys.executable
DJANGO_WS_VENV = Path(os.environ.get("BENCH_DJANGO_WS_VENV", REPO / ".venv"))


@dataclass(frozen=True)
class Server:
    name: str
    description: str
    # argv with "{port}" placeholders
    argv: tuple[str, ...]
    cwd: Path = SERVERS_DIR
    env: dict[str, str] = field(default_factory=dict)
    # "ws" servers speak WebSocket; "tcp" is the raw byte-echo floor.
    transport: str = "ws"
    broadcast: bool = True
    # Run only these scenarios (a variant that differs in one endpoint).
    only: tuple[str, ...] | None = None

    def command(self, port: int) -> list[str]:
        return [a.replace("{port}", str(port)) for a in self.argv]


def _channels_env() -> dict[str, str]:
    return {
        "PYTHONPATH": str(SERVERS_DIR / "channels_project"),
        "DJANGO_SETTINGS_MODULE": "bench_channels.settings",
    }


#: Another checkout of django_ws (e.g. a git worktree of the commit before a
#: change): its servers run beside ours as ``*_base``, in the same run, so a
#: change to a hot path gets its before/after table from one run.
BASELINE_ROOT = os.environ.get("BENCH_BASELINE_ROOT")


def _django_ws(name: str, description: str, *, env: dict[str, str] | None = None,
               only: tuple[str, ...] | None = None, root: str | Path = REPO) -> Server:
    """runws on the bench project; ``env`` picks a variant of its views (urls.py)."""
    return Server(
        name,
        description,
        (
            str(DJANGO_WS_VENV / "bin" / "django-admin"),
            "runws",
            "127.0.0.1:{port}",
            "--noreload",
            "--no-access-log",  # the peers run with their access logs off too
            "--settings=bench_djws.settings",
        ),
        # The repo root too, so a checkout that is not (yet) pip-installed still imports.
        env={"PYTHONPATH": f"{SERVERS_DIR / 'django_ws_project'}{os.pathsep}{root}",
             **(env or {})},
        only=only,
    )


#: The scenarios of the class-view echo variant: the echo ones.
ECHO_ONLY = ("S1", "S2", "S3", "S7a", "S7b", "S7c")


def _baseline_servers() -> list[Server]:
    if not BASELINE_ROOT:
        return []
    return [
        _django_ws("django_ws_base", f"django_ws from {BASELINE_ROOT} (the baseline checkout)",
                   root=BASELINE_ROOT),
        _django_ws("django_ws_fn_base", "django_ws_fn from the baseline checkout (S4 only)",
                   env={"BENCH_DJWS_BCAST": "function"}, only=("S4",), root=BASELINE_ROOT),
        _django_ws("django_ws_cls_base", "django_ws_cls from the baseline checkout (S1-S3, S7)",
                   env={"BENCH_DJWS_ECHO": "class"}, only=ECHO_ONLY, root=BASELINE_ROOT),
    ]


SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        _django_ws("django_ws",
                   "django_ws: `django-admin runws` (gevent pywsgi, sync views, full middleware)"),
        _django_ws("django_ws_fn",
                   "django_ws as above, the /ws/bcast/ member a function view (S4 only)",
                   env={"BENCH_DJWS_BCAST": "function"}, only=("S4",)),
        _django_ws("django_ws_cls",
                   "django_ws as above, the echo a detached class view (WebSocketView; S1-S3, S7)",
                   env={"BENCH_DJWS_ECHO": "class"}, only=ECHO_ONLY),
        Server(
            "django_ws_gunicorn",
            "django_ws under gunicorn: one GeventWebSocketWorker process, the same project",
            (
                str(DJANGO_WS_VENV / "bin" / "gunicorn"),
                "-k", "django_ws.gunicorn.GeventWebSocketWorker",
                "-w", "1",  # one process, as runws: the figures compare per process
                "-b", "127.0.0.1:{port}",
                # gunicorn's default (1,000) would cap S4's 5,000 handshakes in flight.
                "--worker-connections", "10000",
                "--graceful-timeout", "5",
                "--log-level", "warning",
                "bench_djws.wsgi",
            ),
            env={"PYTHONPATH": f"{SERVERS_DIR / 'django_ws_project'}{os.pathsep}{REPO}"},
        ),
        Server(
            "channels_daphne",
            "Channels 4 AsyncWebsocketConsumer on Daphne, in-memory layer",
            (
                PEER_PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "-v", "0",
                # Daphne's 1 MiB default would sit exactly at S3's message size.
                "--websocket-max-message-size", "16777216",
                "--websocket-max-frame-size", "16777216",
                "bench_channels.asgi:application",
            ),
            env=_channels_env(),
        ),
        Server(
            "channels_uvicorn",
            "Channels 4 AsyncWebsocketConsumer on uvicorn (uvloop, httptools, websockets-sansio)",
            (
                PEER_PYTHON, "-m", "uvicorn", "bench_channels.asgi:application",
                "--host", "127.0.0.1", "--port", "{port}",
                # Django's ASGI handler has no lifespan support; access logs off like everywhere.
                "--lifespan", "off", "--no-access-log", "--log-level", "warning",
                "--ws-max-size", "16777216",
            ),
            env=_channels_env(),
        ),
        Server(
            "flask_sock",
            "flask-sock on gevent pywsgi (monkey-patched, as documented)",
            (PEER_PYTHON, "flask_sock_app.py", "--port", "{port}"),
        ),
        Server(
            "websockets",
            "websockets asyncio server, websockets.broadcast",
            (PEER_PYTHON, "ws_asyncio.py", "--port", "{port}"),
        ),
        Server(
            "raw_engine",
            "gevent StreamServer + websockets ServerProtocol (django_ws engine, no Django)",
            (PEER_PYTHON, "raw_engine.py", "--port", "{port}"),
        ),
        Server(
            "tcp_echo",
            "plain gevent TCP echo, no WebSocket (floor)",
            (PEER_PYTHON, "tcp_echo.py", "--port", "{port}"),
            transport="tcp",
            broadcast=False,
        ),
        *_baseline_servers(),
    ]
}
