"""groups.disconnect() across processes: two runws servers on Redis (and on a
3-master Redis Cluster), the order given by a third process, as an admin's
shell or a Celery task would.
"""

from __future__ import annotations

import uuid

import pytest

from django_ws.testing import LiveServer
from tests.support.auth import login
from tests.support.clients import connect, receive_close
from tests.support.third_process import (
    from_a_third_process,
    groups_config,
    logout_in_a_third_process,
)


@pytest.fixture(params=["redis", "cluster"])
def backend(request):
    cluster = request.param == "cluster"
    url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
    return groups_config(url, cluster)


@pytest.fixture
def servers(backend, live_db):
    settings = {"WEBSOCKET_GROUPS": backend}
    env = {"DJANGO_WS_TEST_DB": live_db}
    with (
        LiveServer(settings_module="tests.settings", settings=settings, env=env) as one,
        LiveServer(settings_module="tests.settings", settings=settings, env=env) as two,
    ):
        yield one, two


def member(server, group, cookie=None):
    ws = connect(server, f"/group/{group}/member/", cookie=cookie)
    first = ws.recv()
    assert first == "joined", server.log()[-3000:]
    return ws


def assert_still_served(ws):
    ws.send("ping")
    assert ws.recv() == "echo:ping"
    ws.close()


def test_a_user_is_disconnected_on_every_process(servers, backend, live_db):
    one, two = servers
    name = f"dora-{uuid.uuid4().hex[:8]}"
    session = login(one, name)  # one database: the session is good on both
    group = f"room-{uuid.uuid4().hex[:8]}"
    dora = [member(one, group, session), member(two, f"other-{group}", session)]
    bystanders = [member(one, group), member(two, f"other-{group}")]
    from_a_third_process(backend, live_db,
                         f"disconnect(user=User.objects.get(username={name!r}), reason='bye')")
    for ws in dora:
        assert receive_close(ws) == (4001, "bye")
    for ws in bystanders:  # anonymous, and in the same groups: untouched
        assert_still_served(ws)


def test_a_group_is_disconnected_on_every_process(servers, backend, live_db):
    one, two = servers
    group = f"room-{uuid.uuid4().hex[:8]}"
    members = [member(one, group), member(two, group)]
    outsider = member(two, f"hall-{group}")
    from_a_third_process(backend, live_db,
                         f"disconnect(group={group!r}, code=1001, reason='room closed')")
    for ws in members:
        assert receive_close(ws) == (1001, "room closed")
    assert_still_served(outsider)


def test_logout_closes_that_session_s_sockets_on_every_process(servers, backend, live_db):
    one, two = servers
    name = f"erin-{uuid.uuid4().hex[:8]}"
    laptop, phone = login(one, name), login(two, name)  # two sessions of one user
    group = f"room-{uuid.uuid4().hex[:8]}"
    on_laptop = [member(one, group, laptop), member(two, group, laptop)]
    on_phone = member(one, group, phone)
    logout_in_a_third_process(backend, live_db, name, laptop.partition("=")[2])
    for ws in on_laptop:
        assert receive_close(ws) == (4401, "logged out")
    assert_still_served(on_phone)  # the phone's session was not logged out
