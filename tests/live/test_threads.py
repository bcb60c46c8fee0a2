"""Thread mode: views on real OS threads, their connections on the hub (issue 22).

A view that blocks in C (here ``usleep`` through ctypes, which gevent cannot
patch) stops every connection of the process on a greenlet; on a thread of
the pool (``threaded=True``) the others go on.
"""

from __future__ import annotations

import re
import select

import pytest
import websocket

from django_ws.testing import LiveServer
from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT, wait_for


@pytest.fixture(scope="module")
def server(live_db):
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                    settings={"WEBSOCKET_THREADS": 4}) as live:
        yield live


def has_data(ws) -> bool:
    return bool(select.select([ws.sock], [], [], 0)[0])


@pytest.mark.parametrize("threaded", [False, True], ids=["greenlet", "thread"])
def test_a_view_blocking_in_c_stops_the_others_unless_threaded(server, tmp_path, threaded):
    # The blocker stays in C until the test creates the file: no race with
    # the clock, however slow the machine.
    release = tmp_path / "release"
    path = "/block-in-c-threaded/" if threaded else "/block-in-c/"
    blocker = connect(server, f"{path}?until={release}&announce=1")
    other = connect(server, "/echo/")
    blocker.send("slow")
    assert blocker.recv() == "blocking"  # in C from now on, until released
    other.send("quick")
    if threaded:
        # On a thread the loop goes on: the echo comes back during the C call.
        assert other.recv() == "quick"
        assert not has_data(blocker)
        release.touch()
    else:
        # On a greenlet nothing runs until the C call returns: "quick" waits
        # in the server's socket, and the blocker's answer goes out first.
        release.touch()
        assert other.recv() == "quick"
        assert has_data(blocker)
    assert blocker.recv() == "slow"
    blocker.close()
    other.close()


def test_a_threaded_view_uses_the_orm_on_its_own_thread(server):
    ws = connect(server, "/threaded-orm/")
    greeting = ws.recv()
    # The users other tests made (one database for the session), on a thread
    # of the pool, not the main one (every greenlet's).
    assert re.fullmatch(r"users \d+ on .+", greeting), greeting
    assert "MainThread" not in greeting
    ws.send("hi")
    assert ws.recv() == "echo:hi"
    ws.close()


def test_a_threaded_class_view_runs_open_and_its_hooks_on_a_thread(server):
    ws = connect(server, "/threaded-chat/")
    assert ws.recv() == "welcome"
    ws.send("hello")
    assert ws.recv() == "echo:hello"
    ws.close()


def test_past_the_pool_a_handshake_gets_503_with_retry_after(live_db):
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                    settings={"WEBSOCKET_THREADS": 1}) as live:
        holder = connect(live, "/threaded-orm/")  # its thread waits for messages
        assert holder.recv().startswith("users")
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(live, "/threaded-orm/")
        assert refused.value.status_code == 503
        assert refused.value.resp_headers["retry-after"] == "5"
        assert b"WEBSOCKET_THREADS" in refused.value.resp_body
        holder.close()
        plain = connect(live, "/echo/")  # greenlet views are not counted
        plain.send("fine")
        assert plain.recv() == "fine"
        plain.close()
        # The thread is back in the pool once its view ended.
        for _ in range(int(TIMEOUT * 10)):
            try:
                again = connect(live, "/threaded-orm/")
                break
            except websocket.WebSocketBadStatusException:
                import time

                time.sleep(0.1)
        else:
            pytest.fail("the pool's thread never came back")
        assert again.recv().startswith("users")
        again.close()


def test_a_threaded_view_that_raises_or_loses_its_client_gives_its_thread_back(live_db):
    """One thread: each way a threaded view ends must free it for the next."""
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                    settings={"WEBSOCKET_THREADS": 1}) as live:
        failing = connect(live, "/threaded-fails/")
        failing.send("boom")
        assert receive_close(failing) == (1011, "")  # no traceback to the client
        log = wait_for(lambda: "close=1011" in live.log() and live.log())
        # Logged once, by Django, with the path, as a view on a greenlet;
        # not a second time by gevent's pool without it.
        assert log.count("ValueError: the threaded view failed on purpose") == 1
        assert "Internal Server Error: /threaded-fails/" in log
        assert "failed with ValueError" not in log

        def connects():
            try:
                return connect(live, "/threaded-orm/")
            except websocket.WebSocketBadStatusException as refused:
                assert refused.status_code == 503  # the thread is not back yet
                return None

        vanishing = wait_for(connects)
        assert vanishing.recv().startswith("users")
        vanishing.sock.close()  # TCP gone, no close frame: the view's thread waits on wait()
        after = wait_for(connects)
        assert after.recv().startswith("users")
        after.close()
