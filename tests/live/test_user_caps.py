"""WEBSOCKET_MAX_CONNECTIONS_PER_USER: a user's connections capped in every process.

One runws on the memory backend; two on one Redis (and on the 3-master
cluster), where the count is shared, and where a SIGKILLed process's count
ends with the presence TTL.
"""

from __future__ import annotations

import uuid

import pytest
import websocket

from django_ws.testing import LiveServer
from tests.support.auth import login
from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT, UNIT, wait_for

PREFIX = "user-caps-test:"


def echoes(ws):
    ws.send("hi")
    return ws.recv() == "hi"


def refused(server, path, cookie):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, path, cookie=cookie)
    return info.value


def accepted_again(server, path, cookie):
    """Connect as soon as the count lets the user in (a closed slot is
    given back when the server sees the end of its connection)."""

    def attempt():
        try:
            return connect(server, path, cookie=cookie)
        except websocket.WebSocketBadStatusException as exc:
            assert exc.status_code == 429
            return None

    return wait_for(attempt, timeout=TIMEOUT * 2, interval=0.05)


def newest_replaces_oldest(first, later, session):
    """With a cap of 2: the oldest (on ``first``) closes with 4429 when a third
    opens (on ``later``), and the two newest are served."""
    oldest = connect(first, "/echo/", cookie=session)
    assert echoes(oldest)
    middle = connect(later, "/echo/", cookie=session)
    assert echoes(middle)
    newest = connect(later, "/echo/", cookie=session)
    assert receive_close(oldest) == (4429, "replaced by a newer connection")
    assert echoes(middle) and echoes(newest)
    middle.close()
    newest.close()


def test_a_third_socket_gets_429_until_one_closes(server_factory):
    live = server_factory(WEBSOCKET_MAX_CONNECTIONS_PER_USER=2, WEBSOCKET_RETRY_AFTER=3)
    session = login(live, f"una-{uuid.uuid4().hex[:8]}")
    first, second = connect(live, "/echo/", cookie=session), connect(live, "/echo/",
                                                                      cookie=session)
    assert echoes(first) and echoes(second)
    refusal = refused(live, "/echo/", session)
    assert refusal.status_code == 429
    assert refusal.resp_headers["retry-after"] == "3"
    assert b"WEBSOCKET_MAX_CONNECTIONS_PER_USER" in refusal.resp_body
    live.wait_for_log(r"WebSocket handshake refused for '/echo/': 429", TIMEOUT)
    # Anonymous users are not counted; another user has a count of their own.
    anonymous = [connect(live, "/echo/") for _ in range(3)]
    other = login(live, f"vic-{uuid.uuid4().hex[:8]}")
    others = [connect(live, "/echo/", cookie=other) for _ in range(2)]
    assert all(echoes(ws) for ws in anonymous + others)
    first.close()
    third = accepted_again(live, "/echo/", session)
    assert echoes(third)
    for ws in (second, third, *anonymous, *others):
        ws.close()


def test_close_oldest_lets_the_newest_in_and_closes_the_oldest(server_factory):
    live = server_factory(WEBSOCKET_MAX_CONNECTIONS_PER_USER=2,
                          WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY="close_oldest")
    newest_replaces_oldest(live, live, login(live, f"wes-{uuid.uuid4().hex[:8]}"))
    live.wait_for_log(r"disconnecting 1 WebSocket connection\(s\) .* with 4429", TIMEOUT)


def test_a_view_s_own_cap_counts_apart_and_a_refusal_in_http_gives_the_slot_back(
        server_factory):
    live = server_factory(WEBSOCKET_MAX_CONNECTIONS_PER_USER=1)
    session = login(live, f"xan-{uuid.uuid4().hex[:8]}")
    for _ in range(3):  # the view answers 409: nothing stays counted
        assert refused(live, "/answers-in-http/", session).status_code == 409
    on_echo = connect(live, "/echo/", cookie=session)
    assert echoes(on_echo)
    # The view's own cap (1): the user's echo does not count against it.
    on_view = connect(live, "/one-per-user/", cookie=session)
    assert echoes(on_view)
    assert refused(live, "/one-per-user/", session).status_code == 429
    assert refused(live, "/echo/", session).status_code == 429
    on_view.close()
    assert echoes(accepted_again(live, "/one-per-user/", session))


# -- across processes, on Redis and on Redis Cluster ---------------------------------------


@pytest.fixture(params=["redis", "cluster"])
def backend(request):
    cluster = request.param == "cluster"
    url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
    # A short presence TTL: a killed process's count ends within it.
    return {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                        "OPTIONS": {"url": url, "prefix": PREFIX, "cluster": cluster,
                                    "subscribe_timeout": TIMEOUT,
                                    "presence_ttl": max(1.5, 1.5 * UNIT)}}}


def two_servers(backend, live_db, **settings):
    settings = {"WEBSOCKET_GROUPS": backend, "WEBSOCKET_MAX_CONNECTIONS_PER_USER": 2,
                **settings}
    env = {"DJANGO_WS_TEST_DB": live_db}
    return (LiveServer(settings_module="tests.settings", settings=settings, env=env),
            LiveServer(settings_module="tests.settings", settings=settings, env=env))


def test_the_count_is_shared_by_every_process(backend, live_db):
    one, two = two_servers(backend, live_db)
    with one, two:
        session = login(one, f"yul-{uuid.uuid4().hex[:8]}")  # one database: good on both
        on_one, on_two = connect(one, "/echo/", cookie=session), connect(two, "/echo/",
                                                                         cookie=session)
        assert echoes(on_one) and echoes(on_two)
        for server in (one, two):
            assert refused(server, "/echo/", session).status_code == 429
        on_two.close()
        again = accepted_again(one, "/echo/", session)  # the slot freed on two
        assert echoes(again)
        assert refused(two, "/echo/", session).status_code == 429
        on_one.close()
        again.close()


def test_a_killed_process_s_count_ends_with_its_ttl(backend, live_db):
    one, two = two_servers(backend, live_db)
    with one, two:
        session = login(one, f"zoe-{uuid.uuid4().hex[:8]}")
        on_one = connect(one, "/echo/", cookie=session)
        doomed = connect(two, "/echo/", cookie=session)
        assert echoes(on_one) and echoes(doomed)
        assert refused(one, "/echo/", session).status_code == 429
        two.process.kill()  # SIGKILL: no slot is given back
        two.process.wait(timeout=TIMEOUT)
        # Still counted until the TTL passes; then the slot is let go.
        late = accepted_again(one, "/echo/", session)
        assert echoes(late)
        assert refused(one, "/echo/", session).status_code == 429  # two again
        on_one.close()
        late.close()


def test_close_oldest_closes_the_oldest_on_another_process(backend, live_db):
    one, two = two_servers(backend, live_db,
                           WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY="close_oldest")
    with one, two:
        newest_replaces_oldest(two, one, login(one, f"ada-{uuid.uuid4().hex[:8]}"))
