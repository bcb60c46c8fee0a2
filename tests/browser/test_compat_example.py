"""dwebsocket's example project on the compat layer, in headless Chromium.

dwebsocket sent every message as a text frame, so pages do
``JSON.parse(event.data)`` or show it as text; the compat layer must keep
giving the browser strings, not Blobs, although the view sends ``bytes``.
"""

from __future__ import annotations

import pytest

from django_ws.testing import LiveServer
from tests.support.browser import EXPECT_MS, sync_api


@pytest.fixture(scope="module")
def example():
    with LiveServer(settings_module="tests.compat_example.settings") as live:
        yield live


def test_the_browser_gets_strings_from_the_examples_bytes(browser, example):
    page = browser.new_page()
    page.goto(example.http_url("/"))
    page.wait_for_function("window.s.readyState === 1", timeout=EXPECT_MS)
    page.evaluate("window.s.send('Hello, World!')")
    expect = sync_api().expect
    expect(page.locator("#messagecontainer")).to_contain_text("Hello, World!", timeout=EXPECT_MS)
    assert page.evaluate("window.kinds") == ["string"]
    page.close()
