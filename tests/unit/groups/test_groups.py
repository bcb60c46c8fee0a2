"""Groups backends in-process: membership, subscription and the Redis listener.

No Redis here: a fake pub/sub stands in for redis-py's, so that faults can
be injected one by one (tests/unit/groups/backends/ runs the contract against a real
Redis server).
"""

from __future__ import annotations

from collections import deque

import gevent
import pytest
import redis
from gevent.event import Event

from django_ws.groups.base import GroupBackend
from django_ws.groups.redis import RedisBackend
from tests.support.timing import TIMEOUT, UNIT


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


# -- the Redis listener, over a fake pub/sub -------------------------------------


class FakePubSub:
    """redis-py's PubSub as the backend uses it; ``faults`` are raised in turn."""

    def __init__(self):
        self.channels = {}
        self.inbox = deque()
        self.faults = []
        self.polls = 0

    @property
    def subscribed(self):
        self.polls += 1
        return bool(self.channels)

    def subscribe(self, channel):
        self.channels[channel] = None
        self.inbox.append({"type": "subscribe", "channel": channel.encode(), "data": 1})

    def unsubscribe(self, channel):
        self.channels.pop(channel, None)
        self.inbox.append({"type": "unsubscribe", "channel": channel.encode(), "data": 0})

    def publish(self, channel, payload):
        self.inbox.append({"type": "message", "channel": channel.encode(), "data": payload})

    def get_message(self, timeout):
        if self.faults:
            raise self.faults.pop(0)
        if self.inbox:
            return self.inbox.popleft()
        gevent.sleep(min(timeout, 0.01))
        return None

    def close(self):
        pass


class FakeRedis:
    """The parts of the redis module the backend uses."""

    RedisError = redis.RedisError

    def __init__(self):
        self.pubsub = FakePubSub()
        fake = self

        class Client:
            @classmethod
            def from_url(cls, url):
                return cls()

            def pubsub(self, **kwargs):
                return fake.pubsub

            def close(self):
                pass

        self.Redis = Client


@pytest.fixture
def fake_redis():
    backend = RedisBackend("test", {"url": "redis://127.0.0.1:1/0", "prefix": "t:",
                                    "subscribe_timeout": TIMEOUT})
    fake = backend.redis.redis = FakeRedis()
    yield backend, fake.pubsub
    backend.close()


def wait_until(predicate, timeout=TIMEOUT):
    with gevent.Timeout(timeout, AssertionError(f"{predicate} stayed false")):
        while not predicate():
            gevent.sleep(0.01)


def test_the_listener_survives_an_unexpected_error(fake_redis, caplog):
    backend, pubsub = fake_redis
    member = Member()
    backend.join("room", member)
    pubsub.faults.append(ValueError("a bug in a parser"))
    pubsub.publish("t:db0:room", b"tafter the error")
    wait_until(lambda: member.received == [b"after the error"])
    assert "a bug in a parser" in caplog.text


def test_two_first_joins_while_the_client_is_made_share_one_listener(fake_redis):
    # A cluster's client finds its nodes as it is made (I/O: it yields).
    # Two first joins of different groups then met; the second made a second
    # pub/sub, and the listener of the first ended, failing both joins.
    backend, _ = fake_redis
    client_class = backend.redis.redis.Redis
    made = []
    both_making = Event()

    class SlowToMake(client_class):
        @classmethod
        def from_url(cls, url):
            made.append(url)
            if len(made) == 2:
                both_making.set()
            both_making.wait(TIMEOUT)  # I/O: the other first join runs meanwhile
            return cls()

        def pubsub(self, **kwargs):
            self._pubsub = getattr(self, "_pubsub", None) or FakePubSub()  # one each
            return self._pubsub

    backend.redis.redis.Redis = SlowToMake
    members = [Member(), Member()]
    joins = [gevent.spawn(backend.join, group, member)
             for group, member in zip(("room", "hall"), members, strict=True)]
    gevent.joinall(joins, timeout=TIMEOUT)
    assert [join.successful() for join in joins] == [True, True], [j.exception for j in joins]
    assert len(made) == 2  # both made one; one was kept
    backend._listener._pubsub.publish("t:db0:hall", b"thello")
    wait_until(lambda: members[1].received == [b"hello"])


def test_what_is_no_order_on_the_control_channel_is_dropped_with_one_warning(fake_redis,
                                                                             caplog):
    backend, pubsub = fake_redis
    member = Member()
    backend.join("room", member)
    backend.listen_for_orders()
    wait_until(lambda: backend.redis.control_channel in pubsub.channels)
    for foreign in (b"hello", b"X{}", b'X{"user":"1","code":1005,"reason":"","session":null}'):
        pubsub.publish(backend.redis.control_channel, foreign)
    pubsub.publish("t:db0:room", b"tstill delivered")
    wait_until(lambda: member.received == [b"still delivered"])
    assert caplog.text.count("dropped a message on Redis channel 't:control:db0:'") == 1
    assert "Traceback" not in caplog.text


def test_the_listener_ends_when_no_group_is_left(fake_redis):
    backend, pubsub = fake_redis
    member = Member()
    backend.join("room", member)
    backend.leave("room", member)
    # No polling with nothing subscribed: the listener ends, and the next
    # first join starts it again.
    wait_until(lambda: not backend._listener.running)
    polls = pubsub.polls
    gevent.sleep(0.2 * UNIT)
    assert pubsub.polls == polls
    backend.join("room", member)
    pubsub.publish("t:db0:room", b"tback")
    wait_until(lambda: member.received == [b"back"])


def test_the_listener_says_what_an_outage_lost(fake_redis, caplog):
    backend, pubsub = fake_redis
    member = Member()
    backend.join("room", member)
    pubsub.faults.extend([redis.ConnectionError("Connection refused")] * 2)
    pubsub.publish("t:db0:room", b"tafter the outage")
    wait_until(lambda: member.received == [b"after the outage"])
    assert "Redis pub/sub failed (Connection refused)" in caplog.text
    assert "broadcasts to 'room' in that time were lost" in caplog.text


class BrokenMember(Member):
    def deliver(self, frame, data, *, text):
        raise RuntimeError("a broken member")


def test_a_failing_member_does_not_cost_the_others_the_message(caplog):
    backend = FlakyBackend()
    members = [Member(), BrokenMember(), Member()]
    for member in members:
        backend.join("room", member)
    assert backend.deliver_local("room", b"hello", text=True) == 2
    assert [m.received for m in members if type(m) is Member] == [[b"hello"], [b"hello"]]
    assert "a broken member" in caplog.text
