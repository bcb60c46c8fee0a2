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
import urllib.request

import pytest

from django_ws.testing import LiveServer
from tests.support import tutorial_project
from tests.support.clients import connect
from tests.support.timing import TIMEOUT


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return tutorial_project.build(tmp_path_factory.mktemp("tutorial"))


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
    session = tutorial_project.run("manage.py", "shell", "-c", (
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
    assert "OK" in tutorial_project.run("manage.py", "test", "chat", "-v1", cwd=project)
