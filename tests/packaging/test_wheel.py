"""The built wheel in fresh virtualenvs, with only what a user would install.

Run by nox (``DJANGO_WS_WHEEL`` names the wheel it built), once: each test
makes a virtualenv of its own and installs from the package index.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clients import connect
from tests.support.net import free_port, wait_for_port
from tests.support.timing import TIMEOUT

WHEEL = os.environ.get("DJANGO_WS_WHEEL")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not WHEEL, reason="run by nox, which builds the wheel"),
    pytest.mark.timeout(900),
]


def fresh_venv(folder: Path, *requirements: str) -> Path:
    """A new virtualenv with ``requirements`` installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=TIMEOUT * 12)
    python = folder / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements],
                   check=True, timeout=TIMEOUT * 60)
    return python


def test_the_gunicorn_extra_alone_boots_the_worker(tmp_path):
    # gunicorn's gevent worker imports `packaging`, which gunicorn itself
    # pulls in only through its own "gevent" extra.
    python = fresh_venv(tmp_path / "venv", f"{WHEEL}[gunicorn]")
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["DJANGO_WS_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    port = free_port()
    process = subprocess.Popen(
        [str(python), "-m", "gunicorn", "-k", "django_ws.gunicorn.GeventWebSocketWorker",
         "-b", f"127.0.0.1:{port}", "demo_project.wsgi"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)

        class Address:
            ws_url = staticmethod(lambda path: f"ws://127.0.0.1:{port}{path}")

        ws = connect(Address, "/echo/")
        ws.send("through the gunicorn extra")
        assert ws.recv() == "through the gunicorn extra"
        ws.close()
    finally:
        process.send_signal(signal.SIGTERM)  # the gunicorn we started
        output = process.communicate(timeout=TIMEOUT * 3)[0]
    assert "ModuleNotFoundError" not in output, output
    assert "Traceback" not in output, output


def test_the_unrelated_django_ws_beside_it_fails_the_checks(tmp_path):
    # `pip install django-ws` after us overwrites part of django_ws: the
    # project's `manage.py check` must say so instead of passing.
    python = fresh_venv(tmp_path / "venv", WHEEL)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "django-ws==1.0.2"], check=True, timeout=TIMEOUT * 30)
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["DJANGO_WS_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    result = subprocess.run([str(python), "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT * 6)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "django_ws.E011" in output, output
