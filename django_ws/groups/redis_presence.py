"""Presence in Redis: who is in a group, in every process.

Each record is in the group's ``presence`` hash, its expiry in the
``presence.exp`` sorted set; each process refreshes its own members' expiry
every ``presence_ttl / 3`` seconds, so a killed process's members are gone
from ``presence()`` within ``presence_ttl``.

Their leave envelopes come from the live processes: every ``presence_ttl /
3`` seconds, each process sweeps the expired members out of the groups it
has envelope members in (one script, so exactly one process gets each
one), and announces their leaves; ``presence()`` sweeps too. A record that
Redis lost while its member is alive (FLUSHALL, a restart without
persistence, another process's sweep after an outage longer than the TTL)
is written again by the next refresh and announced as a join.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from . import envelopes
from .hub import Hub
from .redis_client import RedisClient

__all__ = ["RedisPresence"]

logger = logging.getLogger("django_ws.groups.redis")


class RedisPresence:
    """Presence records in Redis, this process's refreshed, the expired swept.

    Held by ``RedisBackend``, whose presence methods it serves. Its records
    are also in the hub (``hub.records``), from which a refresh writes back
    what Redis lost.
    """

    def __init__(self, redis: RedisClient, hub: Hub, ttl: float,
                 announce: Callable[[str, bytes], None]) -> None:
        self._redis = redis
        self._hub = hub
        self._ttl = ttl
        self._announce = announce  # the backend's: a presence envelope, everywhere
        self._groups: dict[str, set[str]] = {}  # group -> local member ids
        #: Groups with local envelope members that may see presence, swept
        #: by the refresher: added by an envelope join or a presence
        #: envelope, dropped when a sweep finds no presence and no local
        #: record there, or no local envelope member.
        self._watched: set[str] = set()
        self._refresher: Any = None

    def add(self, group: str, record: dict[str, Any]) -> None:
        ttl, key = self._ttl, self._redis.key
        pipe = self._redis.client().pipeline(transaction=self._redis.transaction)
        pipe.hset(key(group, "presence"), record["connection"], json.dumps(record))
        pipe.zadd(key(group, "presence.exp"),
                  {record["connection"]: int((time.time() + ttl) * 1000)})
        pipe.expire(key(group, "presence"), max(1, round(ttl * 2)))
        pipe.expire(key(group, "presence.exp"), max(1, round(ttl * 2)))
        pipe.execute()
        # Recorded once written: a refresh on its way meanwhile would
        # otherwise write it too, and take it for one Redis had lost.
        self._hub.records[record["connection"]] = record
        self._groups.setdefault(group, set()).add(record["connection"])
        self._start_refresher()

    def remove(self, group: str, member_id: str) -> None:
        self._hub.records.pop(member_id, None)
        ids = self._groups.get(group)
        if ids is not None:
            ids.discard(member_id)
            if not ids:
                del self._groups[group]
        self._remove_records(group, [member_id])

    def members(self, group: str) -> list[dict[str, Any]]:
        gone, flat = self._redis.script("PRESENCE")(
            keys=[self._redis.key(group, "presence"), self._redis.key(group, "presence.exp")],
            args=[int(time.time() * 1000)],
        )
        self._announce_leaves(group, gone)
        records = [json.loads(value) for value in flat[1::2]]
        return sorted(records, key=lambda record: record["joined"])

    # -- watching the groups whose members may vanish with their process ---------

    def watch(self, group: str) -> None:
        """``group`` has local envelope members, who may see presence."""
        if group not in self._watched:
            self._watched.add(group)
            self._start_refresher()

    def _start_refresher(self) -> None:
        if self._refresher is None or self._refresher.dead:
            import gevent

            self._refresher = gevent.spawn(self._refresh_presence)

    def _refresh_presence(self) -> None:
        """Every ``presence_ttl / 3`` s, while there is something to do: push
        the expiry of this process's records, then sweep the watched groups."""
        import gevent

        ttl = self._ttl
        while self._groups or self._watched:
            gevent.sleep(ttl / 3)
            try:
                self._refresh_records(ttl)
                self._sweep()
            except self._redis.redis.RedisError as exc:
                logger.warning("cannot refresh presence in Redis (%s); retrying in %.1fs",
                               exc, ttl / 3)
            except Exception:
                # The refresher must outlive a bug in one group's envelope:
                # the others' records would expire.
                logger.exception("error refreshing presence in Redis")

    def _refresh_records(self, ttl: float) -> None:
        expires = int((time.time() + ttl) * 1000)
        key = self._redis.key
        pipe = self._redis.client().pipeline(transaction=False)
        written: list[tuple[int, str, str]] = []  # (result index, group, member id)
        records = self._hub.records
        for group, ids in list(self._groups.items()):
            pipe.zadd(key(group, "presence.exp"), dict.fromkeys(ids, expires))
            for suffix in ("presence", "presence.exp"):
                pipe.expire(key(group, suffix), max(1, round(ttl * 2)))
            for member_id in ids:
                record = records.get(member_id)
                if record is not None:  # back after an outage or FLUSHALL
                    written.append((len(pipe), group, member_id))
                    pipe.hset(key(group, "presence"), member_id, json.dumps(record))
        if not written:
            return
        results = pipe.execute()
        for index, group, member_id in written:
            record = records.get(member_id)
            if record is None:
                # It left while the pipeline was on its way, and the removal
                # may have landed first: remove it again, or it would stay
                # listed for a TTL.
                self._remove_records(group, [member_id])
            elif results[index] == 1:  # a new field: Redis had lost it
                self._announce(group, envelopes.presence_payload(group, "join", record["info"]))

    def _sweep(self) -> None:
        now = int(time.time() * 1000)
        key = self._redis.key
        for group in list(self._watched):
            if group not in self._hub.envelopes:
                self._watched.discard(group)
                continue
            gone, left = self._redis.script("SWEEP")(
                keys=[key(group, "presence"), key(group, "presence.exp")],
                args=[now],
            )
            self._announce_leaves(group, gone)
            if not left and group not in self._groups:
                self._watched.discard(group)

    def _announce_leaves(self, group: str, gone: list[bytes]) -> None:
        for raw in gone:
            record = json.loads(raw)
            logger.info("member %s of group %r left presence: its process stopped "
                        "refreshing it", record.get("connection"), group)
            self._announce(group, envelopes.presence_payload(group, "leave", record["info"]))

    def _remove_records(self, group: str, member_ids: list[str]) -> None:
        key = self._redis.key
        pipe = self._redis.client().pipeline(transaction=self._redis.transaction)
        pipe.hdel(key(group, "presence"), *member_ids)
        pipe.zrem(key(group, "presence.exp"), *member_ids)
        pipe.execute()

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.kill(block=False)
