"""Presence in Redis: who is in a group, in every process.

Each record is in the group's ``presence`` hash, its expiry in the
``presence.exp`` sorted set; each process refreshes its own members' expiry
every ``presence_ttl / 3`` seconds, so a killed process's members are gone
from ``presence()`` within ``presence_ttl``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from .base import validate_group
from .redis_client import RedisClient

__all__ = ["RedisPresence"]

logger = logging.getLogger("django_ws.groups.redis")


class RedisPresence(RedisClient):
    """``presence_add()``, ``presence_remove()``, ``presence()`` on Redis."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self._presence_groups: dict[str, set[str]] = {}  # group -> local member ids
        self._refresher: Any = None

    def presence_add(self, group: str, record: dict[str, Any]) -> None:
        super().presence_add(group, record)
        self._presence_groups.setdefault(group, set()).add(record["connection"])
        ttl = self.history_options.presence_ttl
        pipe = self._client().pipeline(transaction=not self.cluster)
        pipe.hset(self._key(group, "presence"), record["connection"], json.dumps(record))
        pipe.zadd(self._key(group, "presence.exp"),
                  {record["connection"]: int((time.time() + ttl) * 1000)})
        pipe.expire(self._key(group, "presence"), max(1, round(ttl * 2)))
        pipe.expire(self._key(group, "presence.exp"), max(1, round(ttl * 2)))
        pipe.execute()
        if self._refresher is None or self._refresher.dead:
            import gevent

            self._refresher = gevent.spawn(self._refresh_presence)

    def presence_remove(self, group: str, member_id: str) -> None:
        super().presence_remove(group, member_id)
        ids = self._presence_groups.get(group)
        if ids is not None:
            ids.discard(member_id)
            if not ids:
                del self._presence_groups[group]
        pipe = self._client().pipeline(transaction=not self.cluster)
        pipe.hdel(self._key(group, "presence"), member_id)
        pipe.zrem(self._key(group, "presence.exp"), member_id)
        pipe.execute()

    def presence(self, group: str) -> list[dict[str, Any]]:
        validate_group(group)
        flat = self._script("PRESENCE")(
            keys=[self._key(group, "presence"), self._key(group, "presence.exp")],
            args=[int(time.time() * 1000)],
        )
        records = [json.loads(value) for value in flat[1::2]]
        return sorted(records, key=lambda record: record["joined"])

    def _refresh_presence(self) -> None:
        """Push the expiry of this process's presence records, while it has some."""
        import gevent

        ttl = self.history_options.presence_ttl
        while self._presence_groups:
            gevent.sleep(ttl / 3)
            expires = int((time.time() + ttl) * 1000)
            try:
                pipe = self._client().pipeline(transaction=False)
                for group, ids in list(self._presence_groups.items()):
                    if ids:
                        pipe.zadd(self._key(group, "presence.exp"), dict.fromkeys(ids, expires))
                        for suffix in ("presence", "presence.exp"):
                            pipe.expire(self._key(group, suffix), max(1, round(ttl * 2)))
                        for member_id in ids:
                            record = self._records.get(member_id)
                            if record is not None:  # back after an outage or FLUSHALL
                                pipe.hset(self._key(group, "presence"), member_id,
                                          json.dumps(record))
                pipe.execute()
            except self._redis.RedisError as exc:
                logger.warning("cannot refresh presence in Redis (%s); retrying in %.1fs",
                               exc, ttl / 3)
