"""The open-files limit: raised at start, and checked against the connection limit."""

from __future__ import annotations

import subprocess
import sys

from django.test import override_settings

from django_ws.checks import check_settings
from django_ws.process.fd_limit import open_files_limit


def test_the_soft_limit_is_raised_to_the_hard_one():
    # In a child: lower its own soft limit as a default Linux login would
    # leave it (1024), then call what runws and the worker call at start.
    code = (
        "import logging, resource, sys\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s')\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from django_ws.process.fd_limit import raise_open_files_limit\n"
        "print(raise_open_files_limit() == (256, hard), "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard)\n"
        "print(raise_open_files_limit())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("raised the open-files limit (RLIMIT_NOFILE) from 256 to ")
    assert lines[1:] == ["True True", "None"]  # raised once; then nothing to do


def test_a_connection_limit_above_the_hard_limit_is_w003():
    hard = open_files_limit()[1]
    with override_settings(WEBSOCKET_MAX_CONNECTIONS=hard * 2 if hard > 0 else 10):
        warnings = [e for e in check_settings() if e.id == "django_ws.W003"]
    assert len(warnings) == (1 if hard > 0 else 0)
    if warnings:
        assert "WEBSOCKET_MAX_CONNECTIONS" in warnings[0].msg and "LimitNOFILE" in warnings[0].hint
    with override_settings(WEBSOCKET_MAX_CONNECTIONS=10):
        assert [e for e in check_settings() if e.id == "django_ws.W003"] == []
