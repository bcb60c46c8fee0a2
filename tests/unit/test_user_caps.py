"""The per-user connection counts in one process: the memory count, the
Redis count against a real redis-server (and a dead one), the order that
closes a replaced connection, the options and the checks.

tests/live/test_user_caps.py runs them behind real handshakes, across
processes.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from django.test import override_settings

from django_ws.checks import check_settings
from django_ws.decorators import accept_websocket
from django_ws.groups.disconnect import Order
from django_ws.groups.redis import RedisBackend
from django_ws.groups.user_slots import LocalUserSlots, make_slot, slot_connection
from django_ws.views import WebSocketView


def test_the_memory_count_refuses_past_the_limit_or_replaces_the_oldest():
    slots = LocalUserSlots()
    first, second, third = (make_slot(f"c{n}", opened=100.0 + n) for n in range(3))
    assert slots.claim("*", "7", first, 2, replace=False) == (True, [])
    assert slots.claim("*", "7", second, 2, replace=False) == (True, [])
    assert slots.claim("*", "7", third, 2, replace=False) == (False, [])
    assert slots.claim("*", "8", third, 2, replace=False) == (True, [])  # another user
    assert slots.claim("view:x", "7", third, 2, replace=False) == (True, [])  # another scope
    assert slots.claim("*", "7", third, 2, replace=True) == (True, [first])  # the oldest
    assert slot_connection(first) == "c0"
    slots.release("*", "7", second)
    slots.release("*", "7", second)  # twice: nothing
    assert slots.claim("*", "7", make_slot("c4"), 2, replace=False)[0] is True


def test_slots_sort_by_opening_time():
    assert sorted([make_slot("b", 10.5), make_slot("a", 9.0), make_slot("c", 1000.0)]) == [
        make_slot("a", 9.0), make_slot("b", 10.5), make_slot("c", 1000.0)]


def test_a_replacement_order_goes_through_its_wire_form():
    order = Order("7", None, 4429, "replaced by a newer connection", slot=make_slot("abc"))
    assert Order.parse(order.payload(), None) == order
    # An order without a slot keeps the wire form of earlier releases.
    assert b"slot" not in Order("7", None, 4001, "").payload()
    assert Order.parse(b'{"user":"7","code":4429,"reason":"","session":null,"slot":7}',
                       None) is None


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2"])
def test_a_view_s_cap_must_be_a_positive_int_or_none(value):
    with pytest.raises(TypeError, match="max_connections_per_user="):
        accept_websocket(max_connections_per_user=value)(lambda request: None)
    with pytest.raises(TypeError, match="max_connections_per_user="):
        type("Capped", (WebSocketView,), {"websocket_options": {
            "max_connections_per_user": value}}).as_view()


def test_a_view_s_cap_of_none_is_accepted():
    accept_websocket(max_connections_per_user=None)(lambda request: None)
    accept_websocket(max_connections_per_user=3)(lambda request: None)


@pytest.mark.parametrize("value", [0, -2, "3", True])
def test_a_per_user_setting_that_is_not_a_positive_int_is_e002(value):
    with override_settings(WEBSOCKET_MAX_CONNECTIONS_PER_USER=value):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_ws.E002"]
    assert "WEBSOCKET_MAX_CONNECTIONS_PER_USER" in messages[0].msg


@pytest.mark.parametrize("value", ["oldest", None, "REFUSE"])
def test_an_unknown_per_user_policy_is_e019(value):
    with override_settings(WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY=value):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_ws.E019"]
    assert "WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY" in messages[0].msg


def test_the_defaults_pass_the_checks():
    with override_settings(WEBSOCKET_MAX_CONNECTIONS_PER_USER=2,
                           WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY="close_oldest"):
        assert check_settings() == []


# -- the Redis count ------------------------------------------------------------------------


@pytest.fixture
def redis_backend(redis_url):
    backend = RedisBackend("test", {"url": redis_url, "prefix": f"caps-{uuid.uuid4().hex}:",
                                    "presence_ttl": 30})
    yield backend
    backend.close()


def test_the_redis_count_is_shared_and_written_again_after_redis_lost_it(redis_backend):
    other_process = RedisBackend("test", redis_backend.options)
    try:
        first, second, third = (make_slot(f"c{n}", opened=100.0 + n) for n in range(3))
        assert redis_backend.user_slots.claim("*", "7", first, 2, False) == (True, [])
        assert other_process.user_slots.claim("*", "7", second, 2, False) == (True, [])
        assert redis_backend.user_slots.claim("*", "7", third, 2, False) == (False, [])
        assert other_process.user_slots.claim("*", "7", third, 2, True) == (True, [first])
        key = redis_backend.user_slots._key("*", "7")
        client = redis_backend.redis.client()
        client.delete(key)  # FLUSHALL, a restart without persistence
        redis_backend.user_slots.refresh()
        other_process.user_slots.refresh()
        # Written again, all three: this process holds the replaced one
        # until its connection closes on the order (here: released below).
        assert {m.decode() for m in client.zrange(key, 0, -1)} == {first, second, third}
        redis_backend.user_slots.release("*", "7", first)
        assert {m.decode() for m in client.zrange(key, 0, -1)} == {second, third}
    finally:
        other_process.close()


def test_a_slot_released_while_a_refresh_was_on_its_way_is_removed_again(redis_backend):
    slots = redis_backend.user_slots
    slot = make_slot("c1")
    slots.claim("*", "9", slot, 2, False)
    client = redis_backend.redis.client()
    real_pipeline = client.pipeline

    class ReleasingMeanwhile:
        """The pipeline of the refresh; the connection ends while it is sent."""

        def __init__(self, *args, **kwargs):
            self._pipe = real_pipeline(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._pipe, name)

        def execute(self):
            slots._local.release("*", "9", slot)  # release() got there first...
            client.zrem(slots._key("*", "9"), slot)
            return self._pipe.execute()  # ...and the refresh wrote it back

    client.pipeline = ReleasingMeanwhile
    try:
        slots.refresh()
    finally:
        client.pipeline = real_pipeline
    assert client.zrange(slots._key("*", "9"), 0, -1) == []


def test_redis_down_at_a_claim_lets_the_connection_in_and_says_so(caplog):
    backend = RedisBackend("test", {"url": "redis://127.0.0.1:1/0", "presence_ttl": 30})
    slot = make_slot("c1")
    try:
        with caplog.at_level(logging.WARNING, "django_ws.groups.redis"):
            assert backend.user_slots.claim("*", "7", slot, 1, False) == (True, [])
        assert "cannot count user 7's connections in Redis" in caplog.text
        # Recorded here: the refresh writes it once Redis is back.
        assert backend.user_slots._local.holds("*", "7", slot)
    finally:
        backend.close()


def test_redis_down_at_a_release_forgets_the_slot_here_and_raises_for_the_log():
    # The connection's cleanup logs the error (finish() isolates each step);
    # the slot is no longer refreshed here, so Redis lets it expire.
    import redis

    backend = RedisBackend("test", {"url": "redis://127.0.0.1:1/0", "presence_ttl": 30})
    slot = make_slot("c1")
    try:
        backend.user_slots.claim("*", "7", slot, 1, False)
        with pytest.raises(redis.ConnectionError):
            backend.user_slots.release("*", "7", slot)
        assert not backend.user_slots._local
    finally:
        backend.close()


class _User:
    is_authenticated = True
    pk = 7


class _Request:
    user = _User()

    def get_full_path(self):
        return "/echo/"


class _Unaccepted:
    accepted = False
    user_slot = None


def test_a_replacement_order_that_fails_lets_the_new_connection_in_and_says_so(
        settings, caplog, monkeypatch):
    from django_ws import user_caps
    from django_ws.groups import get_backend

    settings.WEBSOCKET_GROUPS = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER = 1
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY = "close_oldest"
    backend = get_backend()

    def down(order):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(backend, "disconnect", down)
    first, second = _Unaccepted(), _Unaccepted()
    release_first = user_caps.take_slot(_Request(), first, {}, "echo")
    release_second = user_caps.take_slot(_Request(), second, {}, "echo")
    assert callable(release_first) and callable(release_second)  # both let in
    assert "cannot close user 7's oldest WebSocket connection" in caplog.text
    for websocket, release in ((first, release_first), (second, release_second)):
        user_caps.give_back_when_ended(websocket, release)  # never accepted: at once
    assert not backend.user_slots
