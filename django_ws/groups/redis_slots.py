"""Users' connection counts in Redis, shared by every process (``user_slots.py``).

A count is one sorted set, ``prefix{user:<pk>}.slots.<scope>``: slot ->
expiry (Unix ms). Each process pushes its own slots' expiry every
``presence_ttl / 3`` seconds, as presence does, so that a killed process's
slots stop counting within ``presence_ttl`` (the claim script drops the
expired ones first). A slot Redis lost while its connection is open is
written again by the next refresh.

Redis down at a claim: the connection is let in, uncounted until Redis is
back (the refresh writes its slot then); the per-process
``WEBSOCKET_MAX_CONNECTIONS`` still holds. Refusing every user while Redis
is down would turn a cache outage into a full one.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .user_slots import LocalUserSlots

if TYPE_CHECKING:  # pragma: no cover
    from .redis_client import RedisClient

__all__ = ["RedisUserSlots"]

logger = logging.getLogger("django_ws.groups.redis")


class RedisUserSlots:
    """``claim()`` and ``release()`` on Redis, and the refresher that keeps
    this process's slots alive."""

    def __init__(self, redis: RedisClient, ttl: float) -> None:
        self._redis = redis
        self._ttl = ttl  # the backend's presence_ttl: a killed process's slots expire
        self._local = LocalUserSlots()
        self._refresher: Any = None

    def _key(self, scope: str, user: str) -> str:
        # The hash tag keeps a user's counts on one cluster slot.
        return f"{self._redis.prefix}{{user:{user}}}.slots.{scope}"

    def claim(self, scope: str, user: str, slot: str, limit: int,
              replace: bool) -> tuple[bool, list[str]]:
        now = time.time()
        try:
            taken, replaced = self._redis.script("CLAIM_SLOT")(
                keys=[self._key(scope, user)],
                args=[int(now * 1000), int((now + self._ttl) * 1000), slot, limit,
                      "1" if replace else "0", max(1, round(self._ttl * 2))],
            )
        except self._redis.redis.RedisError as exc:
            logger.warning("cannot count user %s's connections in Redis (%s): letting this "
                           "one in, counted once Redis is back", user, exc)
            taken, replaced = 1, []
        if not taken:
            return False, []
        self._local.add(scope, user, slot)
        self._start_refresher()
        return True, [value.decode() if isinstance(value, bytes) else value
                      for value in replaced]

    def release(self, scope: str, user: str, slot: str) -> None:
        self._local.release(scope, user, slot)
        # Redis down: the slot is not refreshed any more, and expires.
        self._redis.client().zrem(self._key(scope, user), slot)

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.kill(block=False)

    def _start_refresher(self) -> None:
        if self._refresher is None or self._refresher.dead:
            import gevent

            self._refresher = gevent.spawn(self._refresh_forever)

    def _refresh_forever(self) -> None:
        import gevent

        while self._local:
            gevent.sleep(self._ttl / 3)
            try:
                self.refresh()
            except self._redis.redis.RedisError as exc:
                logger.warning("cannot refresh the users' connection counts in Redis (%s); "
                               "retrying in %.1fs", exc, self._ttl / 3)
            except Exception:
                # The refresher must outlive a bug: the counts would expire.
                logger.exception("error refreshing the users' connection counts in Redis")

    def refresh(self) -> None:
        """Push the expiry of this process's slots (writing again any Redis lost)."""
        counts = self._local.snapshot()
        if not counts:
            return
        expires = int((time.time() + self._ttl) * 1000)
        pipe = self._redis.client().pipeline(transaction=False)
        for scope, user, slots in counts:
            pipe.zadd(self._key(scope, user), dict.fromkeys(slots, expires))
            pipe.expire(self._key(scope, user), max(1, round(self._ttl * 2)))
        pipe.execute()
        for scope, user, slots in counts:
            # Released while the pipeline was on its way, maybe before it:
            # remove again, or it would count for a TTL.
            gone = [slot for slot in slots if not self._local.holds(scope, user, slot)]
            if gone:
                self._redis.client().zrem(self._key(scope, user), *gone)
