#!/usr/bin/env python3
"""Run the Autobahn|Testsuite fuzzing client against a WebSocket echo endpoint.

    python compliance/autobahn/run.py --url ws://127.0.0.1:9001/echo/ \
        [--cases '*'] [--exclude '9.*,12.*,13.*'] [--server-cmd '...']

autobahntestsuite only runs on Python 2.7, which Debian 12 no longer ships. The
first run therefore builds, under ~/.cache/django_ws/autobahn (or
$DJANGO_WS_AUTOBAHN_CACHE), a private Python 2.7 from Debian 11 packages
(fetched with a private apt configuration, so the system's apt state is never
touched), and a virtualenv holding autobahntestsuite and its pinned
dependencies. Later runs reuse it. See compliance/autobahn/README.md.

Exit status: 0 when every case passed (OK, NON-STRICT or INFORMATIONAL), 1 when
some case failed (unless --allow-failures), 2 on a setup/run error, 130/143 when
interrupted by SIGINT/SIGTERM (wstest and the server are stopped first).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

AUTOBAHN_VERSION = "25.10.1"
# Full freeze of a working install; see the header of that file.
REQUIREMENTS = HERE / "requirements-py27.txt"
# The last virtualenv release that can still create Python 2.7 environments
# (20.22 dropped them); it runs on the host's Python 3 and ships pip 20.3.4,
# setuptools 44 and wheel 0.37 wheels for 2.7, so nothing needs get-pip.
VIRTUALENV_PIN = "virtualenv==20.21.1"
# Debian 11 is the last release with python2.7; its packages run on Debian 12
# (older glibc ABI), with libssl1.1/libffi7 carried along privately.
DEBIAN_SUITE = "bullseye"
PY27_PACKAGES = (
    "python2.7",
    "python2.7-minimal",
    "libpython2.7",
    "libpython2.7-minimal",
    "libpython2.7-stdlib",
    "libpython2.7-dev",  # headers: wsaccel (the C UTF-8 validator) builds from source
)
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Imported once after installation to prove the environment really works.
SMOKE_IMPORTS = (
    "import automat, OpenSSL, service_identity, twisted.internet.ssl, ujson, wsaccel; "
    "import autobahntestsuite.wstest, autobahntestsuite.fuzzing"
)
# Bump when the setup procedure changes so existing caches are rebuilt.
SETUP_REVISION = "1"

# Autobahn verdicts, from harmless to worst. A case's outcome is the worse of
# its `behavior` and `behaviorClose`; anything past NON-STRICT fails.
SEVERITY = [
    "OK",
    "INFORMATIONAL",
    "NON-STRICT",
    "WRONG CODE",
    "UNCLEAN",
    "FAILED BY CLIENT",
    "UNIMPLEMENTED",
    "FAILED",
]
PASSING = {"OK", "INFORMATIONAL", "NON-STRICT"}
SUMMARY_ORDER = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "WRONG CODE"]

# Bounds for setup steps, so a stuck mirror or build never hangs CI.
APT_TIMEOUT = 600
PIP_TIMEOUT = 1200


class RunnerError(Exception):
    """A setup or orchestration failure (as opposed to failing test cases)."""


def log(msg: str) -> None:
    print(f"autobahn: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Subprocesses
# --------------------------------------------------------------------------


def run_bounded(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    out: IO[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Run cmd in its own process group; kill the whole group on timeout.

    subprocess.run(timeout=) only kills the direct child, which would leave
    pip's build helpers or wstest's children running.
    """
    proc = subprocess.Popen(
        [os.fspath(c) for c in cmd],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT if out is not None else None,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        return proc.wait(timeout=timeout)
    except BaseException:
        # Timeout or Ctrl-C: the group id is the child's pid (new session).
        stop_group(proc)
        raise


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM the process group we created for proc, then SIGKILL it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Children may outlive a leader that exited on SIGTERM; reap the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# --------------------------------------------------------------------------
# Cached Python 2.7 + autobahntestsuite
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cache:
    root: Path

    @property
    def apt(self) -> Path:
        return self.root / "apt"

    @property
    def debs(self) -> Path:
        return self.root / "debs"

    @property
    def py27root(self) -> Path:
        return self.root / "py27"

    @property
    def python27(self) -> Path:
        return self.py27root / "usr" / "bin" / "python2.7"

    @property
    def tools(self) -> Path:
        return self.root / "tools-venv"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def wstest(self) -> Path:
        return self.venv / "bin" / "wstest"

    @property
    def stamp(self) -> Path:
        return self.root / "ready.json"

    @property
    def py27_stamp(self) -> Path:
        return self.py27root / ".django_ws-key"

    @property
    def setup_log(self) -> Path:
        return self.root / "setup.log"


def default_cache_dir() -> Path:
    env = os.environ.get("DJANGO_WS_AUTOBAHN_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "django_ws" / "autobahn"


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update((part.encode() if isinstance(part, str) else part) + b"\0")
    return h.hexdigest()


def py27_key() -> str:
    """What decides the unpacked interpreter; it is reused while this is unchanged."""
    return _digest(SETUP_REVISION, DEBIAN_SUITE, *PY27_PACKAGES)


def setup_key() -> str:
    """Everything that decides the cache's content; a change forces a rebuild."""
    return _digest(py27_key(), AUTOBAHN_VERSION, VIRTUALENV_PIN, REQUIREMENTS.read_bytes())


def py27_env(cache: Cache, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for anything that runs the private interpreter or its venv."""
    env = dict(os.environ if base is None else base)
    # The host's Python 3 settings must not leak into Python 2.7.
    for var in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH"):
        env.pop(var, None)
    # libssl1.1, libffi7 etc. come from bullseye and live only in our tree.
    libdirs = sorted(str(p) for p in cache.py27root.glob("*/lib/*-linux-gnu")) + sorted(
        str(p) for p in cache.py27root.glob("lib/*-linux-gnu")
    )
    if env.get("LD_LIBRARY_PATH"):
        libdirs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libdirs)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def parse_apt_sources() -> list[tuple[list[str], str, list[str]]]:
    """(types, uri, suites) of every enabled entry in the system's apt sources."""
    entries: list[tuple[list[str], str, list[str]]] = []
    etc = Path("/etc/apt")
    one_line = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            line = re.sub(r"\[[^\]]*\]", " ", raw.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] in ("deb", "deb-src"):
                entries.append(([line[0]], line[1], [line[2]]))
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        # deb822: blank-line separated stanzas; continuation lines start with space.
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            key = None
            for raw in stanza.splitlines():
                if raw.startswith("#"):
                    continue
                if raw[:1].isspace() and key:
                    fields[key] += " " + raw.strip()
                elif ":" in raw:
                    key, _, value = raw.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                entries.append(
                    (fields.get("types", "").split(), uri, fields.get("suites", "").split())
                )
    return entries


def find_debian_mirror() -> str:
    """The Debian archive URI the system itself uses (bullseye is on the same archive)."""
    override = os.environ.get("DJANGO_WS_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    codename = ""
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                codename = line.split("=", 1)[1].strip().strip('"')
    entries = [e for e in parse_apt_sources() if "deb" in e[0]]
    # The entry for the release itself (not -security/-updates, which live
    # in other archives or suites) is the main Debian archive.
    for _, uri, suites in entries:
        if codename and codename in suites:
            return uri.rstrip("/")
    for _, uri, _ in entries:
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    raise RunnerError(
        "could not find a Debian mirror in /etc/apt/sources.list(.d); "
        "set DJANGO_WS_DEBIAN_MIRROR=http://host/debian"
    )


def write_private_apt(cache: Cache, mirror: str) -> dict[str, str]:
    """A self-contained apt configuration under the cache; returns its env.

    APT_CONFIG is read before /etc/apt/apt.conf.d, and pointing Dir::Etc at our
    own folder makes apt skip the system's conf parts (whose update hooks,
    like docker-clean's, would touch /var/cache/apt), sources and pins.
    """
    apt = cache.apt
    for sub in (
        "etc/apt.conf.d",
        "etc/sources.list.d",
        "etc/preferences.d",
        "etc/trusted.gpg.d",
        "state/lists/partial",
        "cache/archives/partial",
        "log",
    ):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "state" / "status").touch()
    if not DEBIAN_KEYRING.is_file():
        raise RunnerError(f"{DEBIAN_KEYRING} missing (package debian-archive-keyring)")
    (apt / "etc" / "sources.list").write_text(
        f"deb [signed-by={DEBIAN_KEYRING}] {mirror} {DEBIAN_SUITE} main\n"
    )
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    conf = apt / "apt.conf"
    conf.write_text(
        "\n".join(
            [
                f'Dir::Etc "{apt}/etc/";',
                f'Dir::State "{apt}/state/";',
                f'Dir::State::status "{apt}/state/status";',
                f'Dir::Cache "{apt}/cache/";',
                f'Dir::Log "{apt}/log/";',
                f'APT::Architecture "{arch}";',
                f'APT::Architectures {{ "{arch}"; }};',
                'Acquire::Languages "none";',
                # Our folders belong to root; the _apt sandbox user could not write them.
                'APT::Sandbox::User "root";',
                "",
            ]
        )
    )
    env = dict(os.environ)
    env["APT_CONFIG"] = str(conf)
    env["LC_ALL"] = "C"
    return env


def parse_apt_depends(text: str) -> dict[str, list[list[str]]]:
    """`apt-cache depends` output -> {package: [alternatives, ...]} (Depends/PreDepends)."""
    deps: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    group: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith(" "):
            current = deps.setdefault(line.strip(), [])
            group = None
            continue
        m = re.match(r"\s(\|)?\s*(?:Pre)?Depends:\s+(\S+)", line)
        if not m:
            continue
        group = [] if group is None else group
        group.append(m.group(2))
        # A leading "|" means the next line is another alternative of this one.
        if not m.group(1):
            current.append(group)
            group = None
    return deps


def system_installed_packages() -> set[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {p for p, _, st in (ln.partition(" ") for ln in out.splitlines()) if st.startswith("ii")}


def resolve_debs(env: dict[str, str]) -> list[str]:
    """The python2.7 packages plus the shared libraries they need that the host lacks.

    Only library packages (lib*, not -dev) are followed: pulling in bullseye's
    perl, dpkg or mime-support would be pointless for an unpacked tree.
    """
    installed = system_installed_packages()
    wanted: set[str] = set(PY27_PACKAGES)
    frontier = list(PY27_PACKAGES)
    while frontier:
        out = subprocess.run(
            [
                "apt-cache",
                "depends",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
                *frontier,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        ).stdout
        frontier = []
        for groups in parse_apt_depends(out).values():
            for group in groups:
                real = [g for g in group if not g.startswith("<")]
                if not real or any(g in installed or g in wanted for g in real):
                    continue
                name = real[0]
                if name.startswith("lib") and not name.endswith("-dev"):
                    wanted.add(name)
                    frontier.append(name)
    return sorted(wanted)


def setup_python27(cache: Cache, logf: IO[str]) -> None:
    mirror = find_debian_mirror()
    log(f"fetching Debian {DEBIAN_SUITE} python2.7 packages from {mirror} (private apt state)")
    env = write_private_apt(cache, mirror)
    if run_bounded(["apt-get", "-q", "update"], timeout=APT_TIMEOUT, out=logf, env=env):
        raise RunnerError("private apt-get update failed")
    packages = resolve_debs(env)
    print(f"debs: {' '.join(packages)}", file=logf, flush=True)
    shutil.rmtree(cache.debs, ignore_errors=True)
    cache.debs.mkdir(parents=True)
    if run_bounded(
        ["apt-get", "-q", "download", *packages],
        timeout=APT_TIMEOUT,
        out=logf,
        env=env,
        cwd=cache.debs,
    ):
        raise RunnerError("private apt-get download failed")
    shutil.rmtree(cache.py27root, ignore_errors=True)
    cache.py27root.mkdir(parents=True)
    for deb in sorted(cache.debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(cache.py27root)], check=True, timeout=120)
    # The modules wstest's stack needs whose C libraries may come from bullseye.
    check = "import ssl, hashlib, ctypes, zlib, bz2, pyexpat, sqlite3; print(ssl.OPENSSL_VERSION)"
    res = subprocess.run(
        [str(cache.python27), "-c", check],
        capture_output=True,
        text=True,
        env=py27_env(cache),
        timeout=60,
    )
    print(res.stdout + res.stderr, file=logf, flush=True)
    if res.returncode:
        raise RunnerError(f"unpacked python2.7 is not usable:\n{res.stderr.strip()}")
    cache.py27_stamp.write_text(py27_key())


def setup_venv(cache: Cache, logf: IO[str]) -> None:
    log(f"creating Python 2.7 virtualenv with autobahntestsuite {AUTOBAHN_VERSION}")
    shutil.rmtree(cache.tools, ignore_errors=True)
    shutil.rmtree(cache.venv, ignore_errors=True)
    steps: list[list[str | os.PathLike[str]]] = [
        [sys.executable, "-m", "venv", cache.tools],
        [cache.tools / "bin" / "python", "-m", "pip", "install", "-q", VIRTUALENV_PIN],
    ]
    for cmd in steps:
        if run_bounded(cmd, timeout=PIP_TIMEOUT, out=logf):
            raise RunnerError(f"failed: {shlex.join(map(str, cmd))}")

    env = py27_env(cache)
    # Keep virtualenv's seed-wheel cache inside ours, not in ~/.local/share.
    env["VIRTUALENV_OVERRIDE_APP_DATA"] = str(cache.root / "virtualenv-app-data")
    # Headers of the private interpreter: Debian's pyconfig.h includes the
    # multiarch one via <...>, so its root include dir must be searchable too.
    inc = cache.py27root / "usr" / "include"
    env["CFLAGS"] = f"-I{inc / 'python2.7'} -I{inc} {env.get('CFLAGS', '')}".strip()
    cmds: list[list[str | os.PathLike[str]]] = [
        [
            cache.tools / "bin" / "virtualenv",
            "--no-periodic-update",
            "--no-download",
            "-p",
            cache.python27,
            cache.venv,
        ],
        [
            cache.venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--progress-bar",
            "off",
            "-r",
            REQUIREMENTS,
            f"autobahntestsuite=={AUTOBAHN_VERSION}",
        ],
        [cache.venv / "bin" / "python", "-m", "pip", "check"],
        # `pip check` cannot see a dependency that installs but fails to import
        # on 2.7, which is the usual way these old pins break.
        [cache.venv / "bin" / "python", "-c", SMOKE_IMPORTS],
        [cache.wstest, "--help"],
    ]
    for cmd in cmds:
        print(f"$ {shlex.join(map(str, cmd))}", file=logf, flush=True)
        if run_bounded(cmd, timeout=PIP_TIMEOUT, out=logf, env=env):
            raise RunnerError(f"failed: {shlex.join(map(str, cmd))}")


def py27_is_current(cache: Cache) -> bool:
    """True if the unpacked interpreter matches py27_key() and still starts."""
    with contextlib.suppress(OSError):
        if cache.py27_stamp.read_text() == py27_key():
            cmd = [str(cache.python27), "-c", "import ssl"]
            return subprocess.run(cmd, env=py27_env(cache), timeout=60).returncode == 0
    return False


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialize concurrent runners sharing one cache (e.g. parallel CI jobs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_setup(cache: Cache, force: bool = False) -> None:
    key = setup_key()
    with locked(cache.root / ".lock"):
        with contextlib.suppress(OSError, ValueError):
            stamp = json.loads(cache.stamp.read_text())
            if not force and stamp.get("key") == key and cache.wstest.exists():
                return
        started = time.monotonic()
        cache.stamp.unlink(missing_ok=True)
        log(f"setting up {cache.root} (first run only; log: {cache.setup_log})")
        with open(cache.setup_log, "w") as logf:
            try:
                if force or not py27_is_current(cache):
                    setup_python27(cache, logf)
                setup_venv(cache, logf)
            except (RunnerError, subprocess.SubprocessError, OSError) as exc:
                logf.flush()
                raise RunnerError(
                    f"setup failed: {exc}\n--- {cache.setup_log} (tail) ---\n"
                    f"{tail(cache.setup_log)}"
                ) from exc
        # Only the unpacked interpreter and the venv are needed from now on;
        # apt lists (~100 MB), .debs and the virtualenv tool are rebuilt if ever needed.
        for scratch in (cache.apt, cache.debs, cache.tools, cache.root / "virtualenv-app-data"):
            shutil.rmtree(scratch, ignore_errors=True)
        cache.stamp.write_text(
            json.dumps(
                {
                    "key": key,
                    "autobahntestsuite": AUTOBAHN_VERSION,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )
        )
        log(f"setup done in {time.monotonic() - started:.0f} s")


# --------------------------------------------------------------------------
# Server under test
# --------------------------------------------------------------------------


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[Any] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RunnerError(f"server exited with status {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise RunnerError(f"nothing listening on {host}:{port} after {timeout:.0f} s")


@contextlib.contextmanager
def server_process(
    cmd: list[str] | None,
    env_extra: dict[str, str],
    host: str,
    port: int,
    timeout: float,
    logpath: Path,
) -> Iterator[None]:
    """Start cmd (if any), wait until it listens, and stop it by its group id afterwards."""
    if cmd is None:
        wait_for_port(host, port, 5, None)
        yield
        return
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        raise RunnerError(f"{host}:{port} is already in use; refusing to test a stale server")
    env = {**os.environ, **env_extra}
    log(f"starting server: {shlex.join(cmd)} (log: {logpath})")
    with open(logpath, "w") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        try:
            wait_for_port(host, port, timeout, proc)
            yield
        finally:
            stop_group(proc)
            log(f"server stopped (pid {proc.pid}, status {proc.returncode})")


# --------------------------------------------------------------------------
# Running wstest and reading its report
# --------------------------------------------------------------------------


def split_patterns(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def write_spec(
    path: Path, url: str, agent: str, outdir: Path, cases: list[str], exclude: list[str]
) -> None:
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": agent, "url": url}],
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    path.write_text(json.dumps(spec, indent=2) + "\n")


# Runs inside the Python 2.7 venv: expands the spec's patterns exactly as
# wstest will, so a typo fails fast instead of leaving wstest idle forever
# (it never stops its reactor when zero cases match).
RESOLVE_CASES = """
import json, sys
from autobahntestsuite import case
from autobahntestsuite.caseset import CaseSet
cs = CaseSet(case.CaseSetname, case.CaseBasename, case.Cases, case.CaseCategories,
             case.CaseSubCategories)
ids = cs.parseSpecCases(json.load(open(sys.argv[1])))
print(json.dumps({"cases": ids, "unknown": [i for i in ids if i not in cs.CasesIndices]}))
"""


def resolve_cases(cache: Cache, spec: Path) -> list[str]:
    res = subprocess.run(
        [str(cache.venv / "bin" / "python"), "-c", RESOLVE_CASES, str(spec)],
        capture_output=True,
        text=True,
        env=py27_env(cache),
        timeout=120,
    )
    if res.returncode:
        raise RunnerError(f"could not resolve the case patterns:\n{res.stderr.strip()}")
    resolved = json.loads(res.stdout.strip().splitlines()[-1])
    if resolved["unknown"]:
        raise RunnerError(f"unknown case ids: {', '.join(resolved['unknown'])}")
    if not resolved["cases"]:
        raise RunnerError("no case matches --cases minus --exclude")
    return list(resolved["cases"])


def run_wstest(cache: Cache, spec: Path, outdir: Path, timeout: float, verbose: bool) -> None:
    logpath = outdir / "wstest.log"
    cmd: list[str | os.PathLike[str]] = [cache.wstest, "-m", "fuzzingclient", "-s", spec]
    log(f"running wstest (timeout {timeout:.0f} s, log: {logpath})")
    with open(logpath, "w") as out:
        try:
            status = run_bounded(
                cmd, timeout=timeout, out=None if verbose else out, env=py27_env(cache), cwd=outdir
            )
        except subprocess.TimeoutExpired as exc:
            raise RunnerError(
                f"wstest did not finish within {timeout:.0f} s\n{tail(logpath)}"
            ) from exc
    if status:
        raise RunnerError(f"wstest exited with status {status}\n{tail(logpath)}")


def case_sort_key(case_id: str) -> list[int]:
    return [int(p) if p.isdigit() else 0 for p in case_id.split(".")]


def shorten(text: Any, width: int) -> str:
    flat = re.sub(r"<[^>]+>", "", " ".join(str(text or "").split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@dataclass
class CaseResult:
    case_id: str
    behavior: str
    behavior_close: str
    detail: str

    @property
    def outcome(self) -> str:
        ranks = [
            SEVERITY.index(b) if b in SEVERITY else len(SEVERITY)
            for b in (self.behavior, self.behavior_close)
        ]
        worst = max(ranks)
        return SEVERITY[worst] if worst < len(SEVERITY) else self.behavior_close


def read_results(outdir: Path, agent: str, width: int) -> list[CaseResult]:
    index_path = outdir / "index.json"
    try:
        index = json.loads(index_path.read_text())[agent]
    except (OSError, ValueError, KeyError) as exc:
        raise RunnerError(f"no usable report at {index_path}: {exc}") from exc
    results = []
    for case_id in sorted(index, key=case_sort_key):
        entry = index[case_id]
        result = CaseResult(
            case_id, entry.get("behavior", "?"), entry.get("behaviorClose", "?"), ""
        )
        if result.behavior != "OK" or result.behavior_close != "OK":
            with contextlib.suppress(OSError, ValueError):
                report = json.loads((outdir / entry["reportfile"]).read_text())
                parts: list[str] = []
                for key in ("description", "result", "resultClose"):
                    text = shorten(report.get(key), width)
                    if text and text not in parts:  # result and resultClose often repeat
                        parts.append(text)
                result.detail = " | ".join(parts)
        results.append(result)
    return results


def summarize(results: list[CaseResult]) -> tuple[str, list[str], bool]:
    counts = Counter(r.outcome for r in results)
    keys = SUMMARY_ORDER + sorted(k for k in counts if k not in SUMMARY_ORDER)
    summary = "autobahn: " + " ".join(f"{k}={counts.get(k, 0)}" for k in keys)
    lines = [
        f"  {r.case_id:<9} behavior={r.behavior:<13} close={r.behavior_close:<13} {r.detail}"
        for r in results
        if r.outcome != "OK" or r.behavior != "OK" or r.behavior_close != "OK"
    ]
    failed = any(r.outcome not in PASSING for r in results)
    return summary, lines, failed


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Autobahn|Testsuite fuzzingclient runner (see compliance/autobahn/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--url", help="WebSocket echo endpoint, e.g. ws://127.0.0.1:9001/echo/")
    p.add_argument(
        "--django",
        action="store_true",
        help="test django_ws: serve the demo's echo view with runws "
        "(compliance/autobahn/settings.py, 16 MiB messages allowed for 9.*) on 127.0.0.1:9001",
    )
    p.add_argument("--cases", default="*", help="comma-separated case patterns")
    p.add_argument(
        "--exclude", default="", help="comma-separated case patterns to skip, e.g. '9.*,12.*,13.*'"
    )
    p.add_argument("--reports", type=Path, default=HERE / "reports", help="report output folder")
    p.add_argument("--agent", default="django_ws", help="agent name used in the reports")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed for wstest")
    p.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even if cases FAILED / UNIMPLEMENTED / WRONG CODE (report only)",
    )
    p.add_argument(
        "--server-cmd",
        help="command that starts the server under test (run from the "
        "repo root, stopped by its process-group id afterwards)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for --server-cmd / --serve-websockets-echo (repeatable)",
    )
    p.add_argument(
        "--server-timeout", type=float, default=30, help="seconds to wait for the server's port"
    )
    p.add_argument(
        "--serve-websockets-echo",
        action="store_true",
        help="start compliance/autobahn/ref_echo_server.py (the websockets library's own sync "
        "server) on --url's port as the server under test",
    )
    p.add_argument(
        "--ref-python",
        default=None,
        help="interpreter with `websockets` for --serve-websockets-echo "
        "(default: .venv/bin/python if present, else this interpreter)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=default_cache_dir(),
        help="cache folder ($DJANGO_WS_AUTOBAHN_CACHE)",
    )
    p.add_argument("--setup-only", action="store_true", help="build/verify the cache and exit")
    p.add_argument("--reinstall", action="store_true", help="rebuild the cache from scratch")
    p.add_argument(
        "--width", type=int, default=70, help="max width of each text field in case lines"
    )
    p.add_argument("--verbose", action="store_true", help="show wstest's own output")
    return p


class Terminated(Exception):
    """Raised on SIGTERM so cleanup (stopping wstest and the server) still runs."""


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    # CI/timeout(1) stop us with SIGTERM; by default Python would die without
    # running the finally blocks, orphaning the server and wstest sessions.
    signal.signal(signal.SIGTERM, on_sigterm)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.django:
        # The one command for this project: the demo's echo view under runws.
        args.url = args.url or "ws://127.0.0.1:9001/echo/"
        port = urlsplit(args.url).port or 9001
        python = REPO / ".venv" / "bin" / "python"
        args.server_cmd = (
            f"{python if python.exists() else sys.executable} manage.py runws "
            f"127.0.0.1:{port} --noreload --settings compliance.autobahn.settings"
        )
    if not args.setup_only and not args.url:
        parser.error("--url is required (unless --setup-only)")
    if args.server_cmd and args.serve_websockets_echo:
        parser.error("--server-cmd and --serve-websockets-echo are exclusive")
    try:
        env_extra = parse_env(args.env)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))

    cache = Cache(args.cache.expanduser().resolve())
    try:
        ensure_setup(cache, force=args.reinstall)
        if args.setup_only:
            log(f"ready: {cache.wstest}")
            return 0

        parts = urlsplit(args.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            parser.error(f"--url must be ws://host:port/path, got {args.url!r}")
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "wss" else 80)

        server_cmd: list[str] | None = shlex.split(args.server_cmd) if args.server_cmd else None
        if args.serve_websockets_echo:
            ref_python = args.ref_python or (
                str(REPO / ".venv" / "bin" / "python")
                if (REPO / ".venv" / "bin" / "python").exists()
                else sys.executable
            )
            server_cmd = [
                ref_python,
                str(HERE / "ref_echo_server.py"),
                "--host",
                host,
                "--port",
                str(port),
            ]

        outdir = args.reports.expanduser().resolve()
        # Stale case files from an earlier run would be mixed into index.json.
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        spec = outdir / "fuzzingclient.json"
        write_spec(
            spec,
            args.url,
            args.agent,
            outdir,
            split_patterns(args.cases),
            split_patterns(args.exclude),
        )

        expected = resolve_cases(cache, spec)
        log(f"{len(expected)} cases selected")

        started = time.monotonic()
        with server_process(
            server_cmd, env_extra, host, port, args.server_timeout, outdir / "server.log"
        ):
            run_wstest(cache, spec, outdir, args.timeout, args.verbose)
        elapsed = time.monotonic() - started

        results = read_results(outdir, args.agent, args.width)
        missing = sorted(set(expected) - {r.case_id for r in results}, key=case_sort_key)
        if missing:
            raise RunnerError(f"{len(missing)} selected cases have no result, e.g. {missing[:5]}")
        summary, lines, failed = summarize(results)
        print(summary)
        for line in lines:
            print(line)
        print(f"autobahn: {len(results)} cases in {elapsed:.0f} s; report: {outdir / 'index.html'}")
    except RunnerError as exc:
        log(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Terminated:
        log("terminated")
        return 143
    return 1 if failed and not args.allow_failures else 0


if __name__ == "__main__":
    sys.exit(main())
