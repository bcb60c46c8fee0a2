"""Groups across processes and machines, over Redis pub/sub.

::

    WEBSOCKET_GROUPS = {
        "default": {
            "BACKEND": "django_ws.groups.redis.RedisBackend",
            "OPTIONS": {"url": "redis://127.0.0.1:6379/0", "prefix": "django_ws:"},
        }
    }

A broadcast is one PUBLISH on the channel ``prefix + group``, from any process,
gevent or not (a management command, a Celery task). Each server process
SUBSCRIBEs to the channels of the groups it has members in, on one
connection read by one greenlet, and delivers what arrives to its members.
Redis pub/sub delivers each message once to each subscribed process, in the
order it was published by one connection. Messages published while a
process is disconnected from Redis are lost for its plain members (pub/sub
keeps nothing); the listener reconnects with back-off and subscribes again.

With history (``history_size`` > 0, the default), a broadcast is one Lua
script instead (``redis_scripts.PUBLISH``): the next offset, XADD to the
group's stream, the expiry, and the PUBLISH with the position. Envelope
members are brought up to date from the stream at their join and after a
reconnection of the listener (``recovery.recover``), or told
``recovered: false``. Presence lives in Redis too, each record refreshed by
its process every ``presence_ttl / 3`` seconds: a killed process's members
are gone from ``presence()`` within ``presence_ttl``.

The backend (publishing, history, what the subscriptions deliver) holds the
objects that do the rest, one module each: its ``RedisClient`` or, for Redis
Cluster, ``ClusterClient`` (``redis_client.py``: the client, keys, channels,
scripts, and everything that differs between the two), ``RedisPresence``
(``redis_presence.py``), ``RedisUserSlots`` (``redis_slots.py``) and the
``Listener`` (``redis_listener.py``), one greenlet that owns the pub/sub
connection: joins and leaves hand it their SUBSCRIBE and UNSUBSCRIBE. This
process's members are in the hub every backend has (``hub.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from . import envelopes, recovery
from .base import GroupBackend, validate_group
from .disconnect import Order
from .envelopes import Entry
from .recovery import EnvelopeMember
from .redis_client import make_client
from .redis_listener import Listener
from .redis_presence import RedisPresence
from .redis_slots import RedisUserSlots
from .streams import new_epoch, select

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

_TEXT, _BINARY = b"t", b"b"  # first byte of a published payload: the frame type
# The first byte of a payload says the frame type and the message's kind:
# "t"/"b" as before (str as text, bytes), and for envelopes and history
# "j"/"J" JSON as text/binary, "S" a str as binary.
_KIND_BYTE = {(envelopes.STR, True): b"t", (envelopes.BYTES, False): b"b",
              (envelopes.JSON, True): b"j", (envelopes.JSON, False): b"J",
              (envelopes.STR, False): b"S", (envelopes.BYTES, True): b"b"}
_KINDS = {ord("t"): envelopes.STR, ord("b"): envelopes.BYTES, ord("j"): envelopes.JSON,
          ord("J"): envelopes.JSON, ord("S"): envelopes.STR}
_TEXT_KINDS = (ord("t"), ord("j"))
_POSITION, _ANNOUNCE = ord("@"), ord("!")  # a payload with a position; a presence envelope
_ORDER = ord("X")  # a disconnect order: on a group's channel, or on the control one
_ORDER_RETRY = (1.0, 30.0)  # listen_for_orders(): first and longest wait while Redis is down


class RedisBackend(GroupBackend):
    """Options: ``url`` (required), ``prefix`` (default ``"django_ws:"``),
    ``subscribe_timeout`` (seconds ``join()`` waits for Redis to confirm, 5),
    ``history_size`` (100), ``history_ttl`` (120 s), ``presence_ttl`` (30 s),
    ``cluster`` (False: True for Redis Cluster, ``url`` naming any node),
    ``max_connections`` (50 commands at once per process; more wait up to
    ``pool_timeout``, 30 s)."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        #: The connection to Redis, one server or a cluster (redis_client.py).
        self.redis = make_client(alias, options)
        self.subscribe_timeout: float = options.get("subscribe_timeout", 5.0)
        self._foreign_seen: set[str] = set()  # channels warned about, once each
        self._order_listener: Any = None  # the greenlet of listen_for_orders()
        self._presence = RedisPresence(self.redis, self.hub, self.history_options.presence_ttl,
                                       self.announce)
        self.user_slots = RedisUserSlots(self.redis, self.history_options.presence_ttl)
        # One greenlet owns the pub/sub connection (redis_listener.py).
        self._listener = Listener(self.redis, handle=self._handle,
                                  describe_groups=self._groups_described)

    # -- publishing (any process) -----------------------------------------------

    def broadcast(self, group: str, data: bytes, *, text: bool,
                  kind: str = envelopes.BYTES) -> str | None:
        validate_group(group)
        payload = _KIND_BYTE[kind, text] + data
        size, ttl = self.history_options.for_group(group)
        if size == 0:
            self._publish(group, payload)
            return None
        redis = self.redis
        epoch, offset = redis.script("PUBLISH")(
            keys=[redis.key(group, "meta"), redis.key(group, "stream"), redis.channel(group)],
            args=[
                redis.publish_command,
                payload,
                size,
                max(1, round(ttl)),
                new_epoch(),
            ],
        )
        return envelopes.format_position(_str(epoch), int(offset))

    def read_history(
        self, group: str, since: str | None, *, create: bool = True
    ) -> tuple[str | None, int, list[Entry] | None]:
        size, ttl = self.history_options.for_group(group)
        if size == 0:
            return None, 0, None
        wanted = envelopes.parse_position(since)
        first = wanted[1] + 1 if wanted is not None else 0
        epoch, top, now, raw = self.redis.script("READ")(
            keys=[self.redis.key(group, "meta"), self.redis.key(group, "stream")],
            args=[first, max(1, round(ttl)), new_epoch() if create else ""],
        )
        if not epoch:
            return None, 0, None  # no stream, and create=False
        top, oldest = int(top), int(now) - ttl * 1000
        kept: list[Entry] = []
        for entry_id, fields in raw:
            offset = int(_str(entry_id).partition("-")[0])
            values = dict(zip(fields[::2], fields[1::2], strict=True))
            # MAXLEN ~ trims in whole nodes: keep exactly the last
            # history_size, younger than history_ttl.
            if offset <= top - size or int(values[b"t"]) <= oldest:
                continue
            payload = values[b"d"]
            kept.append((offset, payload[1:], _KINDS[payload[0]]))
        return select(_str(epoch), top, kept, since)

    def announce(self, group: str, payload: bytes) -> None:
        self._publish(group, b"!" + payload)

    # -- presence (redis_presence.py) ------------------------------------------------

    def presence_add(self, group: str, record: dict[str, Any]) -> None:
        self._presence.add(group, record)

    def presence_remove(self, group: str, member_id: str) -> None:
        self._presence.remove(group, member_id)

    def presence(self, group: str) -> list[dict[str, Any]]:
        validate_group(group)
        return self._presence.members(group)

    def _join_envelope(self, group: str, websocket: Any, since: str | None,
                       info: dict[str, Any] | None, latest: bool = False) -> bool:
        recovered = super()._join_envelope(group, websocket, since, info, latest)
        self._presence.watch(group)
        return recovered

    def deliver_announcement(self, group: str, payload: bytes) -> None:
        super().deliver_announcement(group, payload)
        if group in self.hub.envelopes:
            self._presence.watch(group)

    # -- disconnect orders -------------------------------------------------------------

    def disconnect(self, order: Order) -> None:
        # A group's order goes to the processes with members in it (its
        # channel); a user's to every server process (the control channel,
        # which each subscribes to from its start: listen_for_orders()).
        payload = b"X" + order.payload()
        if order.group is not None:
            self._publish(order.group, payload)
        else:
            self.redis.publish(self.redis.control_channel, payload)

    def listen_for_orders(self) -> None:
        import gevent

        if self._order_listener is None or self._order_listener.dead:
            self._order_listener = gevent.spawn(self._subscribe_to_orders)

    def _subscribe_to_orders(self) -> None:
        # Once subscribed, redis-py subscribes again after every reconnection;
        # until then (Redis down at the start), try again with back-off.
        import gevent

        delay, longest = _ORDER_RETRY
        while True:
            try:
                if self._listener.subscribe(self.redis.control_channel, self.subscribe_timeout):
                    return
            except self.redis.redis.RedisError as exc:
                logger.warning("cannot subscribe to %r for disconnect orders (%s); retrying "
                               "in %.0fs", self.redis.control_channel, exc, delay)
            gevent.sleep(delay)
            delay = min(delay * 2, longest)

    def _publish(self, group: str, payload: bytes) -> None:
        self.redis.publish(self.redis.channel(group), payload)

    # -- recovery ------------------------------------------------------------------

    def resync(self, group: str, member: EnvelopeMember) -> None:
        # The read blocks on Redis: not in the listener, which buffers the
        # member's live messages meanwhile.
        import gevent

        gevent.spawn(self._resync, group, member)

    def _resync(self, group: str, member: EnvelopeMember) -> None:
        import gevent

        for attempt in range(5):
            try:
                super().resync(group, member)
                return
            except self.redis.redis.RedisError as exc:
                logger.warning("cannot read the history of group %r (%s); retrying", group, exc)
                gevent.sleep(0.2 * 2**attempt)
        # Out of tries: go on with the live messages; a gap is reported.
        if member.buffer is not None:
            recovery.drain(member, group)

    # -- subscribing (server processes, under gevent) ---------------------------

    def subscribe(self, group: str) -> None:
        channel = self.redis.channel(group)
        if not self._listener.subscribe(channel, self.subscribe_timeout):
            logger.warning("Redis did not confirm the subscription to %r in %ss",
                           channel, self.subscribe_timeout)

    def unsubscribe(self, group: str) -> None:
        self._listener.unsubscribe(self.redis.channel(group))

    def _groups_described(self) -> str:
        return ", ".join(repr(g) for g in self.hub.groups())

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        kind = message["type"]
        if isinstance(kind, bytes):
            kind = kind.decode()
        if kind in ("message", "smessage"):
            try:
                if channel == self.redis.control_channel:
                    self._take_order(message["data"], None)
                else:
                    self._deliver(self.redis.group_of(channel), message["data"])
            except _Foreign as exc:
                if channel not in self._foreign_seen:
                    self._foreign_seen.add(channel)
                    logger.warning(
                        "dropped a message on Redis channel %r that django_ws did not publish "
                        "(%s): another project on the same Redis with the same prefix? Give "
                        "each its own OPTIONS['prefix']", channel, exc)
        elif kind in ("subscribe", "ssubscribe") and channel != self.redis.control_channel:
            group = self.redis.group_of(channel)
            if self.hub.envelopes.get(group):
                # Subscribed again after a reconnection: what was published
                # meanwhile is in the stream, not in pub/sub.
                for member in list(self.hub.envelopes[group].values()):
                    if member.buffer is None:
                        member.buffer = []
                        self.resync(group, member)

    def _deliver(self, group: str, payload: bytes) -> None:
        """Deliver what a broadcast published; raise _Foreign for anything else.

        Redis is shared: what arrives on our channels reaches clients only in
        the shapes our broadcast() and announce() publish (a kind byte, an
        optional position, text that is UTF-8, presence envelopes that are
        ours), never as a text frame a browser would fail on.
        """
        if not payload:
            raise _Foreign("empty")
        head = payload[0]
        epoch: str | None = None
        offset = 0
        if head == _POSITION:
            end = payload.find(b"\n")
            position = envelopes.parse_position(payload[1:end].decode("ascii", "replace"))
            if end < 0 or position is None or len(payload) == end + 1:
                raise _Foreign("a malformed position")
            epoch, offset = position
            payload = payload[end + 1:]
            head = payload[0]
        elif head == _ORDER:
            self._take_order(payload, group)
            return
        elif head == _ANNOUNCE:
            if not envelopes.is_announcement(payload[1:], group):
                raise _Foreign("not a presence envelope of this group")
            self.deliver_announcement(group, payload[1:])
            return
        kind = _KINDS.get(head)
        if kind is None:
            raise _Foreign(f"an unknown kind {bytes([head])!r}")
        data = payload[1:]
        text = head in _TEXT_KINDS
        if text or kind == envelopes.STR:
            try:
                data.decode()
            except UnicodeDecodeError:
                raise _Foreign("text that is not UTF-8") from None
        self.deliver_local(group, data, text=text)
        if group in self.hub.envelopes:
            self.deliver_envelopes(group, epoch, (offset, data, kind))

    def _take_order(self, payload: bytes, group: str | None) -> None:
        order = Order.parse(payload[1:], group) if payload[:1] == b"X" else None
        if order is None:
            raise _Foreign("not a disconnect order")
        self.disconnect_local(order)

    def close(self) -> None:
        if self._order_listener is not None:
            self._order_listener.kill(block=False)
        self._listener.close()
        self._presence.close()
        self.user_slots.close()
        self.redis.close()


class _Foreign(ValueError):
    """A pub/sub message that no django_ws broadcast published."""


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
