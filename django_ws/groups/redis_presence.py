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
from typing import Any

from . import envelopes
from .base import validate_group
from .redis_client import RedisClient

__all__ = ["RedisPresence"]

logger = logging.getLogger("django_ws.groups.redis")


class RedisPresence(RedisClient):
    """``presence_add()``, ``presence_remove()``, ``presence()`` on Redis."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self._presence_groups: dict[str, set[str]] = {}  # group -> local member ids
        #: Groups with local envelope members that may see presence, swept
        #: by the refresher: added by an envelope join or a presence
        #: envelope, dropped when a sweep finds no presence and no local
        #: record there, or no local envelope member.
        self._presence_watched: set[str] = set()
        self._refresher: Any = None

    def presence_add(self, group: str, record: dict[str, Any]) -> None:
        ttl = self.history_options.presence_ttl
        pipe = self._client().pipeline(transaction=not self.cluster)
        pipe.hset(self._key(group, "presence"), record["connection"], json.dumps(record))
        pipe.zadd(self._key(group, "presence.exp"),
                  {record["connection"]: int((time.time() + ttl) * 1000)})
        pipe.expire(self._key(group, "presence"), max(1, round(ttl * 2)))
        pipe.expire(self._key(group, "presence.exp"), max(1, round(ttl * 2)))
        pipe.execute()
        # Recorded once written: a refresh on its way meanwhile would
        # otherwise write it too, and take it for one Redis had lost.
        super().presence_add(group, record)
        self._presence_groups.setdefault(group, set()).add(record["connection"])
        self._start_refresher()

    def presence_remove(self, group: str, member_id: str) -> None:
        super().presence_remove(group, member_id)
        ids = self._presence_groups.get(group)
        if ids is not None:
            ids.discard(member_id)
            if not ids:
                del self._presence_groups[group]
        self._remove_records(group, [member_id])

    def presence(self, group: str) -> list[dict[str, Any]]:
        validate_group(group)
        gone, flat = self._script("PRESENCE")(
            keys=[self._key(group, "presence"), self._key(group, "presence.exp")],
            args=[int(time.time() * 1000)],
        )
        self._announce_leaves(group, gone)
        records = [json.loads(value) for value in flat[1::2]]
        return sorted(records, key=lambda record: record["joined"])

    # -- watching the groups whose members may vanish with their process ---------

    def _join_envelope(self, group: str, websocket: Any, since: str | None,
                       info: dict[str, Any] | None, latest: bool = False) -> bool:
        recovered = super()._join_envelope(group, websocket, since, info, latest)
        self._watch(group)
        return recovered

    def deliver_announcement(self, group: str, payload: bytes) -> None:
        super().deliver_announcement(group, payload)
        if group in self._envelopes:
            self._watch(group)

    def _watch(self, group: str) -> None:
        if group not in self._presence_watched:
            self._presence_watched.add(group)
            self._start_refresher()

    def _start_refresher(self) -> None:
        if self._refresher is None or self._refresher.dead:
            import gevent

            self._refresher = gevent.spawn(self._refresh_presence)

    def _refresh_presence(self) -> None:
        """Every ``presence_ttl / 3`` s, while there is something to do: push
        the expiry of this process's records, then sweep the watched groups."""
        import gevent

        ttl = self.history_options.presence_ttl
        while self._presence_groups or self._presence_watched:
            gevent.sleep(ttl / 3)
            try:
                self._refresh_records(ttl)
                self._sweep()
            except self._redis.RedisError as exc:
                logger.warning("cannot refresh presence in Redis (%s); retrying in %.1fs",
                               exc, ttl / 3)
            except Exception:
                # The refresher must outlive a bug in one group's envelope:
                # the others' records would expire.
                logger.exception("error refreshing presence in Redis")

    def _refresh_records(self, ttl: float) -> None:
        expires = int((time.time() + ttl) * 1000)
        pipe = self._client().pipeline(transaction=False)
        written: list[tuple[int, str, str]] = []  # (result index, group, member id)
        for group, ids in list(self._presence_groups.items()):
            pipe.zadd(self._key(group, "presence.exp"), dict.fromkeys(ids, expires))
            for suffix in ("presence", "presence.exp"):
                pipe.expire(self._key(group, suffix), max(1, round(ttl * 2)))
            for member_id in ids:
                record = self._records.get(member_id)
                if record is not None:  # back after an outage or FLUSHALL
                    written.append((len(pipe), group, member_id))
                    pipe.hset(self._key(group, "presence"), member_id, json.dumps(record))
        if not written:
            return
        results = pipe.execute()
        for index, group, member_id in written:
            record = self._records.get(member_id)
            if record is None:
                # It left while the pipeline was on its way, and the removal
                # may have landed first: remove it again, or it would stay
                # listed for a TTL.
                self._remove_records(group, [member_id])
            elif results[index] == 1:  # a new field: Redis had lost it
                self.announce(group, envelopes.presence_payload(group, "join", record["info"]))

    def _sweep(self) -> None:
        now = int(time.time() * 1000)
        for group in list(self._presence_watched):
            if group not in self._envelopes:
                self._presence_watched.discard(group)
                continue
            gone, left = self._script("SWEEP")(
                keys=[self._key(group, "presence"), self._key(group, "presence.exp")],
                args=[now],
            )
            self._announce_leaves(group, gone)
            if not left and group not in self._presence_groups:
                self._presence_watched.discard(group)

    def _announce_leaves(self, group: str, gone: list[bytes]) -> None:
        for raw in gone:
            record = json.loads(raw)
            logger.info("member %s of group %r left presence: its process stopped "
                        "refreshing it", record.get("connection"), group)
            self.announce(group, envelopes.presence_payload(group, "leave", record["info"]))

    def _remove_records(self, group: str, member_ids: list[str]) -> None:
        pipe = self._client().pipeline(transaction=not self.cluster)
        pipe.hdel(self._key(group, "presence"), *member_ids)
        pipe.zrem(self._key(group, "presence.exp"), *member_ids)
        pipe.execute()
