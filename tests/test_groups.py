"""Groups backends in-process: membership, subscription and the Redis listener.

No Redis here: a fake pub/sub stands in for redis-py's, so that faults can
be injected one by one (tests/backends/ runs the contract against a real
Redis server).
"""

from __future__ import annotations

import gevent
import pytest
import redis
from gevent.event import Event

from django_ws.groups.base import GroupBackend
from tests.conftest import TIMEOUT, UNIT


class Member:
    """What a backend needs of a connection: a key, and deliver()."""

    def __init__(self):
        self.received = []

    def deliver(self, frame, data, *, text):
        self.received.append(data)
        return True


class FlakyBackend(GroupBackend):
    """subscribe() fails ``failures`` times; waits for ``gate`` when given."""

    def __init__(self, failures=0, gate=None):
        super().__init__("test", {})
        self.failures = failures
        self.gate = gate
        self.subscribed = []

    def subscribe(self, group):
        if self.gate is not None:
            self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        self.subscribed.append(group)

    def broadcast(self, group, data, *, text):
        self.deliver_local(group, data, text=text)


# -- join ------------------------------------------------------------------------


def test_a_failed_first_subscribe_is_retried_by_the_next_member():
    backend = FlakyBackend(failures=1)
    first, second = Member(), Member()
    with pytest.raises(redis.ConnectionError):
        backend.join("room", first)
    assert backend.local_members("room") == []  # not recorded: it receives nothing
    backend.join("room", second)
    assert backend.subscribed == ["room"]
    assert backend.local_members("room") == [second]


def test_every_member_waits_for_the_subscription():
    gate = Event()
    backend = FlakyBackend(gate=gate)
    first, second = Member(), Member()
    joins = [gevent.spawn(backend.join, "room", first), gevent.spawn(backend.join, "room", second)]
    gevent.sleep(0.05 * UNIT)
    # Neither may return before Redis confirmed: a broadcast made right
    # after join() returns must reach the member.
    assert not any(join.dead for join in joins)
    gate.set()
    gevent.joinall(joins, timeout=TIMEOUT, raise_error=True)
    assert backend.subscribed == ["room"]  # once
    assert set(backend.local_members("room")) == {first, second}


def test_members_waiting_for_a_failed_subscription_get_the_failure():
    gate = Event()
    backend = FlakyBackend(failures=1, gate=gate)
    joins = [gevent.spawn(backend.join, "room", Member()) for _ in range(2)]
    gevent.sleep(0.05 * UNIT)
    gate.set()
    gevent.joinall(joins, timeout=TIMEOUT)
    assert all(isinstance(join.exception, redis.ConnectionError) for join in joins)
    assert backend.local_members("room") == []
    late = Member()
    backend.join("room", late)  # Redis is back
    assert backend.subscribed == ["room"]
    assert backend.local_members("room") == [late]
