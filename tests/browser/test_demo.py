"""The demo's pages in real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from django_ws.testing import LiveServer
from tests.support.browser import EXPECT_MS
from tests.support.net import free_port
from tests.views.pages import FORGED_ENVELOPE

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("browser") / "demo.sqlite3")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"],
                   env={**os.environ, "DJANGO_WS_DEMO_DB": db,
                        "DJANGO_SETTINGS_MODULE": "demo_project.settings"},
                   check=True, timeout=120)
    return db


def demo_server(demo_db, port=0):
    return LiveServer(settings_module="demo_project.settings", port=port,
                      env={"DJANGO_WS_DEMO_DB": demo_db})


@pytest.fixture(scope="module")
def demo(demo_db):
    with demo_server(demo_db) as live:
        yield live


def test_echo_page(browser, demo):
    page = browser.new_page()
    page.goto(demo.http_url("/echo/"))
    expect = sync_api.expect
    expect(page.locator("#status")).to_have_text("connected", timeout=EXPECT_MS)
    page.fill("#message", "hello from chromium")
    page.click("button[type=submit]")
    expect(page.locator("#log")).to_contain_text("echo: hello from chromium", timeout=EXPECT_MS)
    page.close()
    # The page names its icon: no request for /favicon.ico, no 404 in the log.
    assert '" 404 ' not in demo.log()


def test_chat_history_looks_different_from_new_messages(browser, demo):
    expect = sync_api.expect
    alice = browser.new_page()
    alice.goto(demo.http_url("/chat/history/"))
    expect(alice.locator("#status")).to_have_text("connected", timeout=EXPECT_MS)
    alice.fill("#message", "said before carol came")
    alice.click("button[type=submit]")
    expect(alice.locator("#log p.message")).to_have_count(1, timeout=EXPECT_MS)
    carol = browser.new_page()
    carol.goto(demo.http_url("/chat/history/"))
    expect(carol.locator("#log p.history")).to_have_text("said before carol came",
                                                         timeout=EXPECT_MS)
    alice.fill("#message", "said live")
    alice.click("button[type=submit]")
    expect(carol.locator("#log p.message")).to_have_text("said live", timeout=EXPECT_MS)
    style = "element => getComputedStyle(element).color + ' ' + getComputedStyle(element).fontStyle"
    assert (carol.locator("#log p.history").evaluate(style)
            != carol.locator("#log p.message").evaluate(style))
    alice.close()
    carol.close()


def test_two_pages_in_one_room(browser, demo):
    expect = sync_api.expect
    alice, bob = browser.new_page(), browser.new_page()
    for page in (alice, bob):
        page.goto(demo.http_url("/chat/browsers/"))
        expect(page.locator("#status")).to_have_text("connected", timeout=EXPECT_MS)
    alice.fill("#message", "hi bob, it's alice")
    alice.click("button[type=submit]")
    expect(bob.locator("#log")).to_contain_text("hi bob, it's alice", timeout=EXPECT_MS)
    bob.fill("#message", "hello alice")
    bob.click("button[type=submit]")
    expect(alice.locator("#log")).to_contain_text("hello alice", timeout=EXPECT_MS)
    alice.close()
    bob.close()


@pytest.mark.parametrize(("path", "shown"), [
    ("/chat/restart/", "sent while the server was down"),
    ("/echo/", "echo: sent while the server was down"),
])
def test_js_client_survives_a_server_restart(browser, demo_db, path, shown):
    expect = sync_api.expect
    port = free_port()
    first = demo_server(demo_db, port).start()
    page = browser.new_page()
    try:
        page.goto(first.http_url(path))
        expect(page.locator("#status")).to_have_text("connected", timeout=EXPECT_MS)
        first.stop()  # closes with 1001: the client retries
        expect(page.locator("#status")).to_contain_text("reconnecting", timeout=EXPECT_MS)
        # Sent while disconnected: queued by the client, delivered on reconnect.
        page.fill("#message", "sent while the server was down")
        page.click("button[type=submit]")
        second = demo_server(demo_db, port).start()
        try:
            expect(page.locator("#status")).to_have_text("connected", timeout=EXPECT_MS * 3)
            expect(page.locator("#log")).to_contain_text(shown, timeout=EXPECT_MS)
        finally:
            second.stop()
    finally:
        page.close()
        first.stop()


@pytest.fixture(scope="module")
def test_project(live_db):
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db}) as live:
        yield live


def events_after(page, predicate):
    page.wait_for_function(predicate, timeout=EXPECT_MS)
    return page.evaluate("window.events")


@pytest.mark.parametrize("code", [1000, 1008, 4001, 4401, 4429])
def test_js_client_does_not_retry_final_codes(browser, test_project, code):
    page = browser.new_page()
    page.goto(test_project.http_url(f"/js-client/?code={code}"))
    events = events_after(page, "window.events.some(e => e.startsWith('close'))")
    assert events == ["open", f"close {code} false"]
    page.wait_for_timeout(500)  # several retry delays: nothing more happens
    assert page.evaluate("window.events") == events
    page.close()


@pytest.mark.parametrize("code", [1011, 1012, 1013])
def test_js_client_retries_temporary_codes(browser, test_project, code):
    page = browser.new_page()
    page.goto(test_project.http_url(f"/js-client/?code={code}"))
    events = events_after(page, "window.events.filter(e => e === 'open').length >= 2")
    assert events[:3] == ["open", f"close {code} true", "open"]
    page.close()


def test_a_logout_in_another_process_closes_the_page_s_socket_for_good(browser, redis_url,
                                                                      live_db):
    from tests.support.third_process import groups_config, logout_in_a_third_process

    backend = groups_config(redis_url, cluster=False)
    name = f"gil-{os.getpid()}-{id(backend)}"
    with LiveServer(settings_module="tests.settings", settings={"WEBSOCKET_GROUPS": backend},
                    env={"DJANGO_WS_TEST_DB": live_db}) as live:
        page = browser.new_page()
        page.goto(live.http_url(f"/test-login/?user={name}"))  # the session's cookie
        page.goto(live.http_url("/js-client/?path=/echo/"))
        events_after(page, "window.events.includes('open')")
        session_key = next(cookie["value"] for cookie in page.context.cookies()
                           if cookie["name"] == "sessionid")
        logout_in_a_third_process(backend, live_db, name, session_key)
        events = events_after(page, "window.events.some(e => e.startsWith('close'))")
        assert events == ["open", "close 4401 false"]
        page.wait_for_timeout(500)  # several retry delays: nothing more happens
        assert page.evaluate("window.events") == events
        page.close()


def test_chat_recovers_what_was_sent_while_its_server_restarted(browser, demo_db, tmp_path):
    # Two demo servers on one Redis; the first restarts while the second's
    # page sends: the first's page gets those messages once, in order.
    from tests.support.redis import RedisProcess

    expect = sync_api.expect
    redis = RedisProcess(tmp_path)
    redis.start()
    env = {"DJANGO_WS_DEMO_DB": demo_db, "DJANGO_WS_DEMO_REDIS": redis.url}
    port = free_port()
    other = LiveServer(settings_module="demo_project.settings", env=env).start()
    first = LiveServer(settings_module="demo_project.settings", port=port, env=env).start()
    alice, bob = browser.new_page(), browser.new_page()
    try:
        alice.goto(first.http_url("/chat/recovery/"))
        bob.goto(other.http_url("/chat/recovery/"))
        for page in (alice, bob):
            expect(page.locator("#status")).to_have_text("connected", timeout=EXPECT_MS)
        bob.fill("#message", "before the restart")
        bob.click("button[type=submit]")
        expect(alice.locator("#log p.message")).to_have_text(["before the restart"],
                                                             timeout=EXPECT_MS)
        first.stop()
        expect(alice.locator("#status")).to_contain_text("reconnecting", timeout=EXPECT_MS)
        for n in range(3):
            bob.fill("#message", f"while alice was away {n}")
            bob.click("button[type=submit]")
        expect(bob.locator("#log p.message")).to_have_count(4, timeout=EXPECT_MS)
        again = LiveServer(settings_module="demo_project.settings", port=port, env=env).start()
        try:
            expect(alice.locator("#status")).to_have_text("connected", timeout=EXPECT_MS * 3)
            expected = ["before the restart"] + [f"while alice was away {n}" for n in range(3)]
            expect(alice.locator("#log p.message")).to_have_text(expected, timeout=EXPECT_MS)
            assert alice.locator("#log p.history").count() == 0  # recovered: no reload
            bob.fill("#message", "after")
            bob.click("button[type=submit]")
            expect(alice.locator("#log p.message")).to_have_text(expected + ["after"],
                                                                 timeout=EXPECT_MS)
        finally:
            again.stop()
    finally:
        alice.close()
        bob.close()
        first.stop()
        other.stop()
        redis.stop()


def test_js_client_envelopes(browser, test_project):
    page = browser.new_page()
    page.goto(test_project.http_url("/js-envelopes/"))
    events = events_after(page, "window.events.some(e => e.includes('three'))")
    assert events == [
        "recovered g false e-0",
        # join(latest=True): at the position "recovered" gave, delivered anyway.
        'message g e-0 {"text":"zero"} latest',
        'message g e-1 {"text":"one"}',  # once: the duplicate is dropped
        "message g e-2 bytes 0,255",
        "presence g join alice",
        # Sent with send(), as a view relaying a user's text would: a plain
        # message (JSON with a leading space), and the position stays e-2.
        "message undefined undefined " + json.dumps(" " + FORGED_ENVELOPE),
        'message undefined undefined "plain"',  # no envelope: as it came
        # The reconnection sent the last position per group back...
        'message undefined undefined "{\\"since\\": {\\"g\\": \\"e-2\\"}}"',
        # ...and the replay's duplicate is dropped too.
        "recovered g true e-3",
        'message g e-3 {"text":"three"}',
    ]
    assert page.evaluate("socket.positions") == {"g": "e-3"}
    page.close()
