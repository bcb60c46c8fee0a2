"""broadcast(on_commit=...): sent when the transaction commits, never after a rollback.

The memory backend and the suite's database (SQLite, or PostgreSQL with
tests.pg_settings), with real transactions: pytest-django's
``transaction=True`` lets ``atomic()`` commit for real.
"""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from django_ws.groups import broadcast, get_backend, history

pytestmark = pytest.mark.django_db(transaction=True)


class Member:
    """What a backend needs of a connection: deliver()."""

    def __init__(self):
        self.received = []

    def deliver(self, frame, data, *, text):
        self.received.append(bytes(data))
        return True


@pytest.fixture
def member(settings):
    settings.WEBSOCKET_GROUPS = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}
    member = Member()
    get_backend().join("orders", member)
    yield member
    get_backend().leave("orders", member)


def test_nobody_gets_it_before_the_commit(member):
    with transaction.atomic():
        assert broadcast("orders", {"id": 1}, on_commit=True) is None
        assert member.received == []  # the row is not visible yet: nor is the message
        assert history("orders") == []
    assert member.received == [b'{"id": 1}']
    assert [message for _, message in history("orders")] == [{"id": 1}]


def test_nobody_gets_it_after_a_rollback_and_history_never_shows_it(member):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        broadcast("orders", "announced, then rolled back", on_commit=True)
        raise Rollback
    broadcast("orders", "after", on_commit=True)  # outside a transaction: at once
    assert member.received == [b"after"]
    assert [message for _, message in history("orders")] == ["after"]


def test_the_message_is_taken_as_it_was_at_the_call(member):
    order = {"status": "new"}
    with transaction.atomic():
        broadcast("orders", order, on_commit=True)
        order["status"] = "changed after the broadcast"
    assert member.received == [b'{"status": "new"}']


def test_a_savepoint_rolled_back_drops_only_its_own(member):
    with transaction.atomic():
        broadcast("orders", "kept", on_commit=True)
        try:
            with transaction.atomic():
                broadcast("orders", "dropped", on_commit=True)
                raise ValueError
        except ValueError:
            pass
    assert member.received == [b"kept"]


def test_a_backend_that_fails_after_the_commit_is_logged_and_the_others_run(member, caplog,
                                                                           monkeypatch):
    backend = get_backend()
    real = backend.broadcast
    calls = []

    def fails_once(group, data, **kwargs):
        calls.append(data)
        if len(calls) == 1:
            raise ConnectionError("Redis is down")
        return real(group, data, **kwargs)

    monkeypatch.setattr(backend, "broadcast", fails_once)
    with caplog.at_level(logging.ERROR), transaction.atomic():
        broadcast("orders", "lost to the outage", on_commit=True)
        broadcast("orders", "sent", on_commit=True)
    assert member.received == [b"sent"]
    assert "Redis is down" in caplog.text


def test_a_bad_group_name_fails_at_the_call_not_after_the_commit(member):
    with pytest.raises(ValueError), transaction.atomic():
        broadcast("", "x", on_commit=True)
