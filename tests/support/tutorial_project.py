"""The project of the docs' tutorial and Channels guide, built from docs/ as a
user would (used by tests/live/test_tutorial.py and tests/browser/test_tutorial.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.timing import TIMEOUT

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIAL = DOCS / "tutorial" / "files"
CHANNELS = DOCS / "howto" / "files" / "chat"


def run(*args: str, cwd: Path) -> str:
    """A command as the user types it in the project: no settings of ours."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT * 12)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def build(root: Path) -> Path:
    """startproject, startapp, then the docs' files; migrated and checked."""
    run("-m", "django", "startproject", "mysite", cwd=root)
    project = root / "mysite"
    run("manage.py", "startapp", "chat", cwd=project)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + (TUTORIAL / "settings_lines.py").read_text())
    shutil.copytree(TUTORIAL / "chat", project / "chat", dirs_exist_ok=True)
    shutil.copy(TUTORIAL / "mysite" / "urls.py", project / "mysite" / "urls.py")
    # The Channels guide's view, URL and test, beside the tutorial's.
    shutil.copy(CHANNELS / "views_django_ws.py", project / "chat" / "moved.py")
    shutil.copy(CHANNELS / "tests_django_ws.py", project / "chat" / "tests.py")
    moved_urls = (CHANNELS / "urls_django_ws.py").read_text().replace(
        "from chat import views", "from chat import moved as views")
    (project / "chat" / "moved_urls.py").write_text(moved_urls)
    urls = project / "mysite" / "urls.py"
    urls.write_text(urls.read_text().replace(
        "from django.urls import path", "from django.urls import include, path").replace(
        "\n]", '\n    path("", include("chat.moved_urls")),\n]'))
    run("manage.py", "migrate", "-v0", cwd=project)
    assert "System check identified no issues" in run("manage.py", "check", cwd=project)
    return project
