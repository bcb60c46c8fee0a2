"""The tutorial and the Channels migration guide, followed as written.

A fresh ``startproject`` and ``startapp``, then the files the docs show,
copied from ``docs/`` (the pages include them with ``literalinclude``, so a
page cannot show other code than this test runs): ``migrate``, ``check``,
``runws``; the echo page, the chat room (two members, a message, presence,
a reconnection that recovers), the chat view moved from Channels, and its
test through ``manage.py test``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from django_ws.testing import LiveServer
from tests.conftest import TIMEOUT, connect

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


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not DOCS.is_dir():
        pytest.skip("the docs are not in this tree")
    root = tmp_path_factory.mktemp("tutorial")
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


@pytest.fixture(scope="module")
def live(project):
    env = {"DJANGO_SETTINGS_MODULE": "mysite.settings", "PYTHONPATH": str(project)}
    with LiveServer(settings_module="mysite.settings", env=env, via_manage=True) as server:
        yield server


def envelopes(ws, count):
    return [json.loads(ws.recv()) for _ in range(count)]


def test_the_echo_page(live):
    with urllib.request.urlopen(live.http_url("/echo/"), timeout=TIMEOUT) as response:
        assert '"ws://" + location.host + "/echo/"' in response.read().decode()
    ws = connect(live, "/echo/", origin=live.http_url("").rstrip("/"))
    ws.send("hello")
    assert ws.recv() == "hello"
    ws.close()


def test_the_chat_room(live):
    origin = live.http_url("").rstrip("/")
    with urllib.request.urlopen(live.http_url("/room/lobby/"), timeout=TIMEOUT) as response:
        assert "django_ws/websocket.js" in response.read().decode()
    ann = connect(live, "/room/lobby/?nickname=ann", origin=origin)
    # The join's first envelope; the member's own arrival; who is here.
    first, arrival, here = envelopes(ann, 3)
    assert first["group"] == "room.lobby" and "recovered" in first
    assert arrival == {"group": "room.lobby", "presence": "join", "info": {"nickname": "ann"}}
    assert here == {"here": ["ann"]}
    bob = connect(live, "/room/lobby/?nickname=bob", origin=origin)
    assert envelopes(bob, 3)[2] == {"here": ["ann", "bob"]}
    assert envelopes(ann, 1)[0] == {"group": "room.lobby", "presence": "join",
                                   "info": {"nickname": "bob"}}
    bob.send("hi all")
    for ws in (ann, bob):
        message = json.loads(ws.recv())
        assert message["data"] == {"nickname": "bob", "text": "hi all"}
    position = message["position"]
    bob.close()
    assert envelopes(ann, 1)[0]["presence"] == "leave"
    ann.send("anyone?")  # while bob is away
    assert json.loads(ann.recv())["data"]["text"] == "anyone?"
    # Bob's page reconnects with the last position it saw, as the JS client does.
    since = urllib.request.quote(json.dumps({"room.lobby": position}))
    bob = connect(live, f"/room/lobby/?nickname=bob&django_ws_since={since}", origin=origin)
    recovered, missed = envelopes(bob, 2)
    assert recovered["recovered"] is True
    assert missed["data"] == {"nickname": "ann", "text": "anyone?"}
    bob.close()
    ann.close()


def test_the_chat_moved_from_channels(project, live):
    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(live, "/ws/chat/lobby/")
    assert refused.value.status_code == 401
    session = run("manage.py", "shell", "-c", (
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.auth.models import User\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "user = User.objects.create_user('ann', password='pw')\n"
        "session = SessionStore()\n"
        "session[SESSION_KEY] = str(user.pk)\n"
        "session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "session.create()\n"
        "print(session.session_key)\n"), cwd=project).split()[-1]
    ann = connect(live, "/ws/chat/lobby/", cookie=f"sessionid={session}")
    ann.send(json.dumps({"text": "hello"}))
    assert json.loads(ann.recv()) == {"text": "hello", "user": "ann"}
    ann.close()
    # The guide's test, by Django's test runner.
    assert "OK" in run("manage.py", "test", "chat", "-v1", cwd=project)
