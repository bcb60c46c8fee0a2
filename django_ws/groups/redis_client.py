"""The Redis backend's connections: the client, the keys and channels, the scripts.

The bottom of the Redis backend's layers (``redis.py`` builds on
``redis_presence.py``, which builds on this): what every Redis step needs.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import redis_scripts
from .base import GroupBackend

__all__ = ["RedisClient"]


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ImproperlyConfigured(
            "django_ws.groups.redis.RedisBackend needs the redis package: "
            "pip install 'django-websocket-views[redis]'"
        ) from exc
    return redis


class RedisClient(GroupBackend):
    """The options every Redis step reads, and the connection they share."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self._redis = _import_redis()
        try:
            self.url: str = options["url"]
        except KeyError:
            raise ImproperlyConfigured(
                f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS'] needs a 'url', "
                f"e.g. 'redis://127.0.0.1:6379/0'"
            ) from None
        self.prefix: str = options.get("prefix", "django_ws:")
        self.subscribe_timeout: float = options.get("subscribe_timeout", 5.0)
        #: Redis Cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7), the
        #: channel hash-tagged like the group's keys, so that the publish
        #: script runs on the one shard that holds them all.
        self.cluster: bool = bool(options.get("cluster", False))
        self.max_connections: int = options.get("max_connections", 50)
        self.pool_timeout: float = options.get("pool_timeout", 30.0)
        # Redis pub/sub ignores the database number: two projects on /0 and
        # /1 of one server would share every channel (each other's
        # broadcasts and presence). The keys are per database already; the
        # channels carry its number. A cluster has one database.
        if self.cluster:
            self._channel_prefix: str = self.prefix
        else:
            try:
                db = self._redis.connection.parse_url(self.url).get("db", 0)
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS']['url'] is not a Redis URL: {exc}"
                ) from None
            self._channel_prefix = f"{self.prefix}db{db}:"
        self._publisher: Any = None
        self._scripts: dict[str, Any] = {}

    def _channel(self, group: str) -> str:
        if self.cluster:
            return f"{self.prefix}{{{group}}}"
        return self._channel_prefix + group

    def _group(self, channel: str) -> str:
        if self.cluster:
            return channel[len(self.prefix) + 1 : -1]
        return channel[len(self._channel_prefix) :]

    def _connect(self) -> Any:
        if self.cluster:
            import redis.cluster

            return redis.cluster.RedisCluster.from_url(self.url)
        return self._redis.Redis.from_url(self.url)

    def _key(self, group: str, suffix: str) -> str:
        # The hash tag puts a group's keys on one Redis Cluster slot.
        return f"{self.prefix}{{{group}}}.{suffix}"

    def _client(self) -> Any:
        if self._publisher is None:
            if self.cluster:
                self._publisher = self._connect()
            else:
                # Blocking: a reconnect storm (every client reading its
                # history at once) waits for a connection instead of failing
                # with "Too many connections".
                pool = self._redis.BlockingConnectionPool.from_url(
                    self.url, max_connections=self.max_connections, timeout=self.pool_timeout
                )
                self._publisher = self._redis.Redis(connection_pool=pool)
        return self._publisher

    def _script(self, name: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            # register_script runs EVALSHA, and loads the script again after
            # a Redis restart emptied its script cache.
            script = self._scripts[name] = self._client().register_script(
                getattr(redis_scripts, name))
        return script
