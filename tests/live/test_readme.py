"""The README's first steps, followed as a new user would, on this Django.

A fresh ``startproject`` and ``startapp``, the settings lines of "Install",
the three files of "A view" copied from the README as they are written there,
then ``migrate``, ``check`` and ``runws``: the page renders and its socket
echoes.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT
from tests.support.tutorial_project import run

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_files() -> dict[str, str]:
    """The files of "A view": a paragraph starting with `path` and ending in ':', then a block."""
    text = README.read_text()
    section = text[text.index("\n## A view"):]
    section = section[:section.index("\n## ", 1)]
    files = {}
    for paragraph, block in re.findall(r"\n\n([^\n`][^\n]*|`[^\n]*(?:\n[^\n]+)*?):\n\n"
                                       r"```\w*\n(.*?)\n```", section, re.DOTALL):
        path = re.match(r"`([\w/.]+)`", paragraph)
        if path:
            files[path[1]] = block + "\n"
    return files


def test_the_readme_files_are_there():
    assert sorted(readme_files()) == [
        "chat/templates/chat/echo.html", "chat/views.py", "mysite/urls.py",
    ]


def test_a_new_project_following_the_readme_works(tmp_path):
    run("-m", "django", "startproject", "mysite", cwd=tmp_path)
    project = tmp_path / "mysite"
    run("manage.py", "startapp", "chat", cwd=project)
    settings = project / "mysite" / "settings.py"
    # "Install" and "A view": the apps and the middleware, last.
    settings.write_text(settings.read_text() + (
        '\nINSTALLED_APPS += ["chat", "django_ws"]\n'
        'MIDDLEWARE += ["django_ws.middleware.WebSocketMiddleware"]\n'
    ))
    for path, code in readme_files().items():
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    env = {"DJANGO_SETTINGS_MODULE": "mysite.settings", "PYTHONPATH": str(project)}
    run("manage.py", "migrate", "-v0", cwd=project)
    assert "System check identified no issues" in run("manage.py", "check", cwd=project)
    with LiveServer(settings_module="mysite.settings", env=env, via_manage=True) as live:
        with urllib.request.urlopen(live.http_url("/echo/"), timeout=TIMEOUT) as response:
            page = response.read().decode()
        assert '"ws://" + location.host + "/echo/"' in page  # {% url 'echo' %} resolved
        ws = connect(live, "/echo/", origin=live.http_url("").rstrip("/"))
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.close()
