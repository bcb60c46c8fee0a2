"""The built documentation site, looked at in headless Chromium.

``nox -s docs`` builds the site and runs this with ``DJANGO_WS_DOCS_HTML``
pointing at it; elsewhere it is skipped (the suite does not build the site).
The site must stand alone: no request leaves the machine (the theme's assets
are packaged with it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.browser import EXPECT_MS

HTML = os.environ.get("DJANGO_WS_DOCS_HTML")
pytestmark = pytest.mark.skipif(not HTML, reason="run by nox -s docs, on the site it built")


def test_the_tutorial_renders_with_its_navigation_and_nothing_from_elsewhere(browser):
    site = Path(HTML)
    page = browser.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((site / "tutorial" / "index.html").as_uri())
    page.wait_for_selector("h1", timeout=EXPECT_MS)
    assert "Tutorial" in page.inner_text("h1")
    navigation = page.inner_text(".sidebar-tree")
    for entry in ("Install", "Tutorial", "Migrate from Channels", "Settings", "System checks",
                  "Close codes", "The gevent model", "Changelog"):
        assert entry in navigation, navigation
    # The stylesheet applied: the sidebar is laid out beside the page.
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.sidebar-drawer')).display") != "none"
    page.screenshot(path=str(site.parent / "tutorial.png"), full_page=False)
    assert [url for url in requests if not url.startswith("file://")] == []
    page.close()
