"""Headless Chromium (Debian's), driven by Playwright: the browser tests' and
the docs site's. The ``browser`` fixture (tests/conftest.py) launches it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.timing import TIMEOUT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root, without a sandbox; and no background traffic to the outside.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Playwright's waits, in ms: the tests' one timeout unit.
EXPECT_MS = int(TIMEOUT * 1000)


def sync_api() -> Any:
    """playwright.sync_api, or a skip where Playwright is not installed."""
    return pytest.importorskip("playwright.sync_api")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium; skipped (failed under CI) where it is missing."""
    api = sync_api()
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run must install it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
