"""A thread started in an app's ready() works under ``manage.py runws``.

Django runs every app's ready() before it imports the runws command; the
patch that came with the command then broke threads already running
("RuntimeError: cannot release un-acquired lock", from importlib). runws
now patches when Django makes django_ws's app config, before any ready().
"""

from __future__ import annotations

import json
import urllib.request

from django_ws.testing import LiveServer
from tests.support.timing import TIMEOUT, wait_for


def ticks(server) -> int:
    with urllib.request.urlopen(server.http_url("/ticks/"), timeout=TIMEOUT) as response:
        return int(json.load(response)["ticks"])


def test_a_thread_started_in_ready_runs_under_runws(live_db):
    with LiveServer(settings_module="tests.ready_thread.settings", via_manage=True,
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        first = ticks(live)
        assert first >= 1
        wait_for(lambda: ticks(live) > first)  # it goes on ticking, beside the server
        assert "cannot release un-acquired lock" not in live.log()
