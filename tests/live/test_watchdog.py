"""A view that holds the event loop: reported, and unable to stop a shutdown.

Every connection of a process shares one gevent hub (see django_ws.server.watchdog).
"""

from __future__ import annotations

import signal

import pytest

from django_ws.testing import LiveServer
from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT, wait_for


def test_a_view_blocking_in_c_is_reported_with_its_path_and_stack(live_db):
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                    settings={"WEBSOCKET_LOOP_BLOCKED_THRESHOLD": 0.1}) as live:
        ws = connect(live, "/block-in-c/")
        ws.send("slow")
        assert ws.recv() == "slow"
        wait_for(lambda: "the event loop has been blocked" in live.log())
        log = live.log()
        assert "by WebSocket /block-in-c/ from 127.0.0.1:" in log
        assert "(view tests.views.blocking._block_in_c)" in log
        assert "libc.usleep(pause)" in log  # the stack, down to the call
        assert "psycogreen" in log  # what to do
        ws.close()


@pytest.mark.parametrize("path", ["/spin/"])
def test_sigterm_ends_a_process_whose_view_never_yields(live_db, path):
    """The drain still starts (the other clients get 1001) and the process
    exits within the drain timeout and a few seconds."""
    live = LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                      drain_timeout=1.0).start()
    try:
        other = connect(live, "/echo/")
        other.send("before")
        assert other.recv() == "before"
        stuck = connect(live, path)
        assert stuck.recv() == "spinning"  # from now on, the loop is held
        live.process.send_signal(signal.SIGTERM)
        assert receive_close(other)[0] == 1001
        assert live.process.wait(timeout=3 * TIMEOUT) == 0
        log = live.log()
        assert "interrupted the view tests.views.blocking.spin" in log
        assert "when the server was asked to stop (SIGTERM)" in log
    finally:
        if live.process.poll() is None:
            live.process.kill()
            live.process.wait(TIMEOUT)


def test_sigterm_ends_a_gunicorn_worker_whose_view_never_yields(live_db):
    """The same under the gunicorn worker: gunicorn's own signal handlers run in
    the view that holds the loop; the worker ends it, closes the others with
    1001 and exits, before the arbiter's graceful timeout would kill it."""
    from tests.support.gunicorn import Gunicorn

    server = Gunicorn(live_db, workers=1, args=("--graceful-timeout", "20"))
    try:
        other = connect(server, "/echo/")
        other.send("before")
        assert other.recv() == "before"
        stuck = connect(server, "/spin/")
        assert stuck.recv() == "spinning"
        server.process.send_signal(signal.SIGTERM)
        assert receive_close(other)[0] == 1001  # not 1006 from a SIGKILLed worker
        assert server.process.wait(timeout=3 * TIMEOUT) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(TIMEOUT)
