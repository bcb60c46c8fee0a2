#!/usr/bin/env python3
"""Record dwebsocket 0.5.12's behaviour on the probe views, and run its example project.

    python compliance/dwebsocket/record.py          # writes dwebsocket_0.5.12.json beside it
    python compliance/dwebsocket/record.py --check  # runs, compares with it, writes nothing

It makes a venv once (``~/.cache/django_ws/dwebsocket-0.5.12``, from
``$(pyenv root)/versions/3.11.7``, or ``--python``) with Django 3.0.14,
dwebsocket 0.5.12 and websocket-client from PyPI, then serves
``compliance/dwebsocket/probes`` with ``runserver`` on 127.0.0.1 (once with
the decorators, once with the middleware, once with it and
``WEBSOCKET_ACCEPT_ALL``), drives every probe with
websocket-client (``driver.py``) and writes what each showed.

It also runs dwebsocket's own example project (``examples/`` of the 0.5.12
sdist from PyPI, copied to a temporary directory) twice: as released, under
``runserver`` with dwebsocket; then with only its imports changed
(``dwebsocket`` -> ``django_ws.compat.dwebsocket``, and ``url`` from
``django.urls``, since Django 4 removed ``django.conf.urls.url``) under
django_ws's gunicorn worker, with this repository's Python (``--ours``).
Both results go into the file. Servers are stopped by their process-group id.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from compliance.dwebsocket.probes.modes import MODES  # noqa: E402

RECORD = ROOT / "compliance" / "dwebsocket" / "dwebsocket_0.5.12.json"
VENV = pathlib.Path.home() / ".cache" / "django_ws" / "dwebsocket-0.5.12"
REQUIREMENTS = ["Django==3.0.14", "dwebsocket==0.5.12", "six", "websocket-client==1.8.0"]
HERE = "127.0.0.1"


def default_python() -> str:
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = str(pathlib.Path.home() / ".pyenv")
    return f"{root}/versions/3.11.7/bin/python"


def ensure_venv(python: str) -> pathlib.Path:
    interpreter = VENV / "bin" / "python"
    marker = VENV / "requirements.txt"
    if not interpreter.exists() or marker.read_text() != "\n".join(REQUIREMENTS):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(interpreter), "-m", "pip", "install", "-q", *REQUIREMENTS],
                       check=True)
        marker.write_text("\n".join(REQUIREMENTS))
    return interpreter


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HERE, 0))
        return int(probe.getsockname()[1])


class Server:
    """A server child in its own process group, stopped by that group's id."""

    def __init__(self, command: list[str], *, env: dict[str, str], cwd: pathlib.Path,
                 port: int) -> None:
        self.port = port
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((HERE, port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    output = self.output()
                    self.stop()
                    raise RuntimeError("server did not start:\n" + output) from None
                time.sleep(0.1)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(15)
        self.log.close()


def drive(interpreter: pathlib.Path, port: int, *, mode: str) -> dict[str, object]:
    """Run driver.observe() in the dwebsocket venv (its websocket-client)."""
    code = (
        "import json, sys; from compliance.dwebsocket.probes.driver import observe; "
        f"json.dump(observe('http://{HERE}:{port}', mode={mode!r}), sys.stdout)"
    )
    result = subprocess.run([str(interpreter), "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode:
        raise RuntimeError(result.stderr)
    return dict(json.loads(result.stdout))


def record_probes(interpreter: pathlib.Path) -> dict[str, object]:
    observed: dict[str, object] = {}
    for mode in MODES:
        port = free_port()
        env = {"PYTHONPATH": str(ROOT), "DWEBSOCKET_PROBES_LIBRARY": "dwebsocket",
               "DJANGO_SETTINGS_MODULE": "compliance.dwebsocket.probes.settings",
               **MODES[mode]}
        server = Server([str(interpreter), "-m", "django", "runserver", f"{HERE}:{port}",
                         "--noreload"], env=env, cwd=ROOT, port=port)
        try:
            observed.update(drive(interpreter, port, mode=mode))
        finally:
            server.stop()
    return observed


# -- dwebsocket's example project ------------------------------------------------------


def example_project(interpreter: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    """The 0.5.12 sdist's examples/, from PyPI, unpacked into ``folder``."""
    subprocess.run([str(interpreter), "-m", "pip", "download", "-q", "--no-deps",
                    "--no-binary", ":all:", "dwebsocket==0.5.12", "-d", str(folder)], check=True)
    with tarfile.open(folder / "dwebsocket-0.5.12.tar.gz") as sdist:
        sdist.extractall(folder, filter="data")
    return folder / "dwebsocket-0.5.12" / "examples"


def change_imports(examples: pathlib.Path) -> list[str]:
    """Change only the imports; return the lines changed."""
    changed = []
    for path in sorted(examples.rglob("*.py")):
        text = path.read_text()
        new = re.sub(r"\bfrom dwebsocket(\.\w+)? import",
                     r"from django_ws.compat.dwebsocket\1 import", text)
        new = new.replace("from django.conf.urls import *",
                          "from django.urls import re_path as url")
        if new != text:
            path.write_text(new)
            changed += [line for line in new.splitlines() if "import" in line
                        and line not in text.splitlines()]
    return changed


def exercise_example(port: int, interpreter: str) -> dict[str, object]:
    """Two clients on the example's broadcasting echo, and its page."""
    code = r"""
import json, sys, time, urllib.request, websocket
base = sys.argv[1]
a = websocket.create_connection("ws://" + base + "/echo", timeout=10)
b = websocket.create_connection("ws://" + base + "/echo", timeout=10)
time.sleep(0.5)  # the 101 comes before the view adds its socket to `clients`
a.send("Hello, World!")
seen = {"a": a.recv(), "b": b.recv()}
a.close()
b.send("second")
seen["b_after_a_left"] = b.recv()
b.close()
page = urllib.request.urlopen("http://" + base + "/", timeout=10)
seen["page"] = [page.status, "Received Messages" in page.read().decode()]
json.dump(seen, sys.stdout)
"""
    result = subprocess.run([interpreter, "-c", code, f"{HERE}:{port}"], capture_output=True,
                            text=True, timeout=120)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(result.stdout))


def run_example(interpreter: pathlib.Path, ours: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dwebsocket_example_") as tmp:
        examples = example_project(interpreter, pathlib.Path(tmp))
        port = free_port()
        server = Server([str(interpreter), "manage.py", "runserver", f"{HERE}:{port}",
                         "--noreload"], env={}, cwd=examples, port=port)
        try:
            released = exercise_example(port, str(interpreter))
        finally:
            server.stop()
        changed = change_imports(examples)
        port = free_port()
        server = Server([ours, "-m", "gunicorn", "-k", "django_ws.gunicorn.GeventWebSocketWorker",
                         "-w", "1", "-b", f"{HERE}:{port}", "examples.wsgi"],
                        env={"PYTHONPATH": os.pathsep.join([str(examples), str(ROOT)])},
                        cwd=examples, port=port)
        try:
            compat = exercise_example(port, ours)
        finally:
            server.stop()
    return {"dwebsocket 0.5.12, runserver": released,
            "django_ws.compat.dwebsocket, gunicorn worker": compat,
            "imports changed": changed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=default_python(), help="Python 3.11 for the venv")
    parser.add_argument("--ours", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="a Python with this repository installed, for the example project")
    parser.add_argument("--check", action="store_true",
                        help="compare with the recorded file instead of writing it")
    args = parser.parse_args()
    interpreter = ensure_venv(args.python)
    version = subprocess.run([str(interpreter), "-c", "import sys, django; print("
                              "sys.version.split()[0], django.get_version())"],
                             capture_output=True, text=True, check=True).stdout.split()
    record = {
        "library": "dwebsocket 0.5.12 (PyPI)",
        "django": version[1],
        "python": version[0],
        "server": "manage.py runserver (threaded), 127.0.0.1",
        "client": "websocket-client 1.8.0",
        "made_by": "compliance/dwebsocket/record.py",
        "probes": record_probes(interpreter),
        "example_project": run_example(interpreter, args.ours),
    }
    if args.check:
        recorded = json.loads(RECORD.read_text())
        differ = [name for name, value in record["probes"].items()  # type: ignore[attr-defined]
                  if recorded["probes"].get(name) != value]
        if record["example_project"] != recorded["example_project"]:
            differ.append("example_project")
        print("differ from the record:", differ or "none")
        for name in differ:
            print(f"  {name}: recorded {recorded['probes'].get(name, recorded.get(name))!r}\n"
                  f"  {' ' * len(name)}  now      {record['probes'].get(name, record.get(name))!r}")
        return 1 if differ else 0
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    print(f"wrote {RECORD.relative_to(ROOT)}: {len(record['probes'])} probes")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
