"""runws itself: the demo project, static files, graceful shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("demo") / "demo.sqlite3")
    env = {**os.environ, "DJANGO_WS_DEMO_DB": db, "DJANGO_SETTINGS_MODULE": "demo_project.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, check=True,
                   timeout=120)
    with LiveServer(settings_module="demo_project.settings",
                    env={"DJANGO_WS_DEMO_DB": db}) as live:
        yield live


def get(live, path):
    with urllib.request.urlopen(live.http_url(path), timeout=TIMEOUT) as response:
        return response.status, response.read().decode()


def test_demo_echo_page_and_socket(demo):
    status, page = get(demo, "/echo/")
    assert status == 200
    assert 'new DjangoWebSocket("/echo/")' in page  # reconnects, as the chat does
    assert '<meta name="viewport"' in page
    assert 'rel="icon" href="/static/demo/favicon.svg"' in page  # no /favicon.ico 404
    ws = connect(demo, "/echo/", origin=demo.http_url("").rstrip("/"))
    ws.send("from the test")
    assert ws.recv() == "from the test"
    ws.close()


def test_demo_static_files_in_debug(demo):
    status, css = get(demo, "/static/demo/demo.css")
    assert status == 200 and "#log" in css
    assert get(demo, "/static/demo/favicon.svg")[0] == 200


def test_demo_logs_in_utc():
    # Django sets the process's time zone from TIME_ZONE (America/Chicago by
    # default): runws's log times follow it.
    code = "import django, time; django.setup(); print(time.strftime('%Z'))"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings", "TZ": "Asia/Tokyo"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True, timeout=TIMEOUT * 3)
    assert result.stdout.strip() == "UTC"


def chat_message(ws):
    """The next chat line: the demo joins its group with recover=True, so a
    broadcast line comes in an envelope's "data", after the envelope that
    says whether the client missed anything; the view's own history lines
    come as they are."""
    while True:
        frame = json.loads(ws.recv())
        if "data" in frame:
            return frame["data"]
        if "recovered" not in frame and "presence" not in frame:
            return frame


def test_demo_chat_room_with_history(demo):
    alice = connect(demo, "/chat/testroom/")
    bob = connect(demo, "/chat/testroom/")
    alice.send("hello bob")
    assert chat_message(bob) == {"text": "hello bob"}
    assert chat_message(alice) == {"text": "hello bob"}
    alice.close()
    bob.close()
    # A newcomer sees the history, read from the database by the view.
    carol = connect(demo, "/chat/testroom/")
    assert chat_message(carol) == {"text": "hello bob", "history": True}
    carol.close()


@pytest.mark.parametrize("path", ["/echo/", "/detached/"])
def test_sigterm_closes_connections_with_1001_and_exits(server_factory, path):
    live = server_factory()
    ws = connect(live, path)
    ws.send("x")
    assert ws.recv() == "x"
    codes = []
    stopper = threading.Thread(target=lambda: codes.append(live.stop()))
    stopper.start()
    assert receive_close(ws) == (1001, "server shutting down")
    stopper.join(TIMEOUT)
    assert codes == [0]
    # The connection ended (its line is written) before the process exited;
    # a detached one holds no greenlet of the pool that shutdown waits for.
    assert f'"GET {path} HTTP/1.1" 101' in live.log()
    assert "close=1001 by=server in=1 out=1" in live.log()


def test_manage_runws_gives_each_greenlet_its_own_db_connection(live_db):
    # `manage.py runws` patches after Django is set up; each view must still
    # get its own connection, as each thread would (django_ws.process.patching).
    with LiveServer(settings_module="tests.settings", via_manage=True,
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        sockets = [connect(live, "/db-identity/") for _ in range(5)]
        reports = [json.loads(ws.recv()) for ws in sockets]
    connections = {report["first"] for report in reports}
    assert len(connections) == 5
    assert all(report["first"] == report["second"] for report in reports)


def test_no_access_log(live_db):
    with LiveServer(settings_module="tests.settings", args=("--no-access-log",),
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        ws = connect(live, "/echo/")
        ws.send("x")
        assert ws.recv() == "x"
        ws.close()
        get(live, "/echo/")
    assert '"GET /echo/' not in live.log()


def test_ctrl_c_under_the_autoreloader_is_graceful(tmp_path):
    # Ctrl-C reaches the whole process group: the reloader's parent and the
    # serving child. The child must get to close with 1001, and both exit.
    import re
    import signal

    db = str(tmp_path / "demo.sqlite3")
    env = {**os.environ, "DJANGO_WS_DEMO_DB": db, "DJANGO_SETTINGS_MODULE": "demo_project.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, check=True,
                   timeout=120)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runws", "127.0.0.1:0"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    try:
        port = None
        for line in process.stdout:
            match = re.search(r"at http://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match[1])
                break
        assert port, "runws did not start"

        class Address:
            host, ws_url = "127.0.0.1", staticmethod(lambda path: f"ws://127.0.0.1:{port}{path}")

        ws = connect(Address, "/echo/", origin=f"http://127.0.0.1:{port}")
        ws.send("x")
        assert ws.recv() == "x"
        os.killpg(process.pid, signal.SIGINT)  # the group we started
        assert receive_close(ws) == (1001, "server shutting down")
        assert process.wait(TIMEOUT * 2) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(TIMEOUT)


def test_graceful_shutdown_waits_for_busy_views(server_factory):
    live = server_factory()
    ws = connect(live, "/sleepy/?sleep=0.3")  # the view sleeps, then sends
    codes = []
    reader = threading.Thread(target=lambda: codes.append(receive_close(ws)[0]))
    reader.start()
    assert live.stop() == 0
    reader.join(TIMEOUT)
    assert codes == [1001]
    # The view's connection line is written once the view has ended: the
    # drain waited for it (it woke up, found the connection closed, ended)
    # instead of exiting under it.
    assert '"GET /sleepy/?sleep=0.3 HTTP/1.1" 101' in live.log()
