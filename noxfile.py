"""The test matrix, run against what users install: the built wheel.

``nox`` (what ``.ci/run`` and the README's test command run) does, in order:

- ``lint``: ruff, mypy with Django's type stubs, and import-linter's
  contracts of the layers (``lint-imports``);
- ``build``: the sdist and the wheel (``python -m build``), ``twine check
  --strict``, and a check that the sdist holds the whole test suite;
- ``tests``: for each supported (Python, Django) pair, a fresh virtualenv with
  the **wheel** installed (not the source tree), and the suite run from the
  unpacked sdist with its ``django_ws/`` removed, so that every import of
  django_ws is the installed one. The newest pair runs everything; the others
  leave out the browser and Autobahn tests, which test the browser and the
  protocol core, not Django, and the slow Redis outage and cluster tests,
  which ``contention`` runs on the oldest pair;
- ``contention``: the groups tests on Redis and Redis Cluster once more, on the
  oldest pair, with a busy loop on every core, so that a hang that depends on
  timing (a greenlet starved behind another) shows on any machine.

The interpreters come from pyenv (``$(pyenv root)/versions``), found without
any download. ``nox -s tests-3.11`` runs one interpreter's pairs.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"

nox.options.sessions = ["lint", "docs", "build", "tests", "contention"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

#: The groups tests over a real Redis and Redis Cluster, run by ``contention``.
REDIS_TESTS = ("tests/unit/groups/test_groups.py", "tests/unit/groups/backends",
               "tests/live/test_redis_listener.py", "tests/live/test_redis_faults.py",
               "tests/live/test_recovery.py", "tests/live/test_recovery_cluster.py")
# (Python, Django, what to leave out). Classifiers in pyproject.toml list
# exactly these.
CORE_ONLY = ("--ignore=tests/browser", "--ignore=tests/compliance",
             # Slow, and Django's version changes nothing there: the newest
             # pair and ``contention`` run them.
             "--ignore=tests/live/test_redis_faults.py", "--ignore=tests/live/test_recovery.py",
             "--ignore=tests/live/test_recovery_cluster.py")
MATRIX = [
    ("3.13", "6.1", ()),
    ("3.12", "6.0", CORE_ONLY),
    ("3.11", "5.2", CORE_ONLY),
    ("3.11", "4.2", CORE_ONLY),
]
#: The oldest pair also runs on the oldest websockets pyproject.toml allows,
#: so that its lower bound is one that works.
OLDEST_DJANGO = "4.2"
WEBSOCKETS_FLOOR = "websockets==17.0"

# Files the tests need that setuptools would not put in an sdist by itself
# (MANIFEST.in adds them).
SDIST_MUST_HOLD = ("tests/conftest.py", "tests/settings.py", "tests/urls.py",
                   "tests/views/basics.py", "demo_project/settings.py", "manage.py",
                   "compliance/autobahn/run.py", "LICENSE", "docs/tutorial/files/chat/views.py")

LINT_REQUIREMENTS = ("ruff==0.17.6", "mypy==2.4.1", "django-stubs==6.1.2", "import-linter==2.17",
                     "pytest", "redis", "gunicorn", "prometheus_client")


def _pyenv_interpreters() -> None:
    """Put the newest pyenv interpreter of each Python version on PATH for nox."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    newest: dict[str, str] = {}
    for folder in sorted(glob.glob(os.path.join(root, "versions", "3.*")),
                         key=lambda path: [int(n) for n in os.path.basename(path).split(".")
                                           if n.isdigit()]):
        minor = ".".join(os.path.basename(folder).split(".")[:2])
        newest[minor] = os.path.join(folder, "bin")
    os.environ["PATH"] = os.pathsep.join([*newest.values(), os.environ.get("PATH", "")])


_pyenv_interpreters()


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff on the whole tree; mypy on the package, against Django's stubs;
    the layers' contracts (pyproject.toml), function-level imports included."""
    session.install(*LINT_REQUIREMENTS, ".")
    session.run("ruff", "check", ".")
    session.run("mypy", "django_ws")
    session.run("lint-imports")


@nox.session(python=MATRIX[0][0])
def docs(session: nox.Session) -> None:
    """The documentation site (docs/): Sphinx with warnings and broken
    references as errors, the reference's completeness, spelling, and the
    built site in Chromium."""
    html = ROOT / "docs" / "_build" / "html"
    session.install("-r", "docs/requirements.txt", ".[test]")
    # Offline: no inventory of the other projects' docs to fetch here, so
    # references into them are not checked (Read the Docs checks them).
    session.run("sphinx-build", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html", "docs",
                str(html), env={"DJANGO_WS_DOCS_OFFLINE": "1"})
    session.run("python", "docs/check_reference.py")
    session.run("codespell", "--skip", "docs/_build", "docs", "README.md", "CHANGELOG.md",
                "ARCHITECTURE.md", "django_ws")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests/docs",
                env={"DJANGO_WS_DOCS_HTML": str(html)})


@nox.session(python="3.11")
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel into dist/ and check them as the index would."""
    shutil.rmtree(DIST, ignore_errors=True)
    session.install("build", "twine")
    session.run("python", "-m", "build", "--outdir", str(DIST), str(ROOT))
    session.run("twine", "check", "--strict", *map(str, DIST.iterdir()))
    with tarfile.open(_artefact("*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    missing = [name for name in SDIST_MUST_HOLD if name not in names]
    if missing:
        session.error(f"the sdist lacks {missing}: see MANIFEST.in")


@nox.session(requires=["build"])
@nox.parametrize(("python", "django", "leave_out"), MATRIX,
                 ids=[f"{python}-django{django}" for python, django, _ in MATRIX])
def tests(session: nox.Session, django: str, leave_out: tuple[str, ...]) -> None:
    """The suite against the installed wheel, on one (Python, Django) pair."""
    env = {}
    if not leave_out:
        # The packaging tests (fresh virtualenvs of their own) run once.
        env["DJANGO_WS_WHEEL"] = str(_artefact("*.whl"))
    _run_suite(session, django, [*leave_out, "--durations=15", *session.posargs], env)


@nox.session(python=MATRIX[-1][0], requires=["build"])
def contention(session: nox.Session) -> None:
    """The Redis and Redis Cluster groups tests with every core kept busy.

    One busy loop per core, each ending by itself after BUSY_SECONDS (and
    stopped by PID when the tests end): the server processes, redis-server and
    the test process get about half a core each, as on a loaded host. Waits
    are scaled (DJANGO_WS_TEST_TIMEOUT_SCALE), no test compares the clock, so
    only a hang fails.
    """
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(BUSY_SECONDS)])
             for _ in range(os.cpu_count() or 2)]
    try:
        _run_suite(session, MATRIX[-1][1], [*REDIS_TESTS, *session.posargs],
                   {"DJANGO_WS_TEST_TIMEOUT_SCALE": "3"})
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


#: Seconds each busy loop of ``contention`` runs at most.
BUSY_SECONDS = 1200
BUSY_LOOP = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""


def _run_suite(session: nox.Session, django: str, pytest_args: list[str],
               env: dict[str, str]) -> None:
    """pytest from the unpacked sdist, against the wheel installed with ``django``."""
    wheel = _artefact("*.whl")
    floor = (WEBSOCKETS_FLOOR,) if django == OLDEST_DJANGO else ()
    session.install(f"{wheel}[test]", f"Django~={django}.0", *floor)
    source = Path(session.create_tmp()) / "source"
    shutil.rmtree(source, ignore_errors=True)
    with tarfile.open(_artefact("*.tar.gz")) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        sdist.extractall(source, filter="data")
    source /= top
    # Imports of django_ws must find the wheel, not this copy of the source.
    shutil.rmtree(source / "django_ws")
    session.chdir(source)
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *pytest_args,
                env={"DJANGO_WS_EXPECT_INSTALLED": "1", **env})


def _artefact(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    if len(found) != 1:
        raise RuntimeError(f"expected one {pattern} in {DIST}, found {found}: run nox -s build")
    return found[0]
