"""The tutorial's chat room in Chromium: two pages in one room see each other
arrive and leave, and each other's messages (the page of docs/tutorial/)."""

from __future__ import annotations

import pytest

from django_ws.testing import LiveServer
from tests.support import tutorial_project
from tests.support.browser import EXPECT_MS


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    project = tutorial_project.build(tmp_path_factory.mktemp("tutorial"))
    env = {"DJANGO_SETTINGS_MODULE": "mysite.settings", "PYTHONPATH": str(project)}
    with LiveServer(settings_module="mysite.settings", env=env, via_manage=True) as server:
        yield server


def test_two_pages_in_the_tutorial_s_room(browser, live):
    ann, bob = browser.new_page(), browser.new_page()
    ann.goto(live.http_url("/room/lobby/?nickname=ann"))
    ann.wait_for_function("document.getElementById('status').textContent === 'connected'",
                          timeout=EXPECT_MS)
    bob.goto(live.http_url("/room/lobby/?nickname=bob"))
    bob.wait_for_function("document.getElementById('status').textContent === 'connected'",
                          timeout=EXPECT_MS)
    for page in (ann, bob):  # each lists both: who was here, and who came
        page.wait_for_selector("#person-ann", timeout=EXPECT_MS)
        page.wait_for_selector("#person-bob", timeout=EXPECT_MS)
    bob.fill("#text", "hello ann")
    bob.click("button")
    for page in (ann, bob):
        page.wait_for_function(
            "document.getElementById('log').textContent.includes('bob: hello ann')",
            timeout=EXPECT_MS)
    bob.close()
    ann.wait_for_selector("#person-bob", state="detached", timeout=EXPECT_MS)
    ann.close()
