"""A view that holds the event loop: reported, and unable to stop a shutdown.

Every connection of a process shares one gevent hub (see django_ws.watchdog).
"""

from __future__ import annotations

import signal

import pytest

from django_ws.testing import LiveServer
from tests.conftest import TIMEOUT, connect, receive_close, wait_for


def test_a_view_blocking_in_c_is_reported_with_its_path_and_stack(live_db):
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                    settings={"WEBSOCKET_LOOP_BLOCKED_THRESHOLD": 0.1}) as live:
        ws = connect(live, "/block-in-c/")
        ws.send("slow")
        assert ws.recv() == "slow"
        wait_for(lambda: "the event loop has been blocked" in live.log())
        log = live.log()
        assert "by WebSocket /block-in-c/ from 127.0.0.1:" in log
        assert "(view tests.views.block_in_c)" in log
        assert 'libc.usleep(300_000)' in log  # the stack, down to the call
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
        assert "interrupted the view tests.views.spin" in log
        assert "when the server was asked to stop (SIGTERM)" in log
    finally:
        if live.process.poll() is None:
            live.process.kill()
            live.process.wait(TIMEOUT)
