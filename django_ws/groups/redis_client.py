"""The Redis backend's connection to Redis: the client, keys, channels, scripts.

Two variants, chosen by ``OPTIONS["cluster"]``: :class:`RedisClient` for one
Redis server (or a primary with replicas behind one URL), and
:class:`ClusterClient` for Redis Cluster, which overrides what differs:
sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7) on channels hash-tagged like
the group's keys, so that the publish script runs on the one shard that
holds them all; a client that finds the nodes itself; pipelines that are
not transactions (their keys may be on several shards). Everything the
backend, its presence, its user counts and its listener do with Redis goes
through one of these objects, so none of them asks which variant it has.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import redis_scripts

__all__ = ["ClusterClient", "RedisClient", "make_client"]


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ImproperlyConfigured(
            "django_ws.groups.redis.RedisBackend needs the redis package: "
            "pip install 'django-websocket-views[redis]'"
        ) from exc
    return redis


def make_client(alias: str, options: dict[str, Any]) -> RedisClient:
    """The variant ``options`` ask for (``cluster``: Redis Cluster)."""
    variant = ClusterClient if options.get("cluster", False) else RedisClient
    return variant(alias, options)


class RedisClient:
    """One Redis server: the options every Redis step reads, and the
    connection they share."""

    #: Whether pipelines are MULTI/EXEC transactions (one server: yes).
    transaction = True
    #: The command the publish script runs (redis_scripts.PUBLISH).
    publish_command = "publish"

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        #: The redis package (its errors: ``self.redis.RedisError``).
        self.redis = _import_redis()
        try:
            self.url: str = options["url"]
        except KeyError:
            raise ImproperlyConfigured(
                f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS'] needs a 'url', "
                f"e.g. 'redis://127.0.0.1:6379/0'"
            ) from None
        self.prefix: str = options.get("prefix", "django_ws:")
        self.max_connections: int = options.get("max_connections", 50)
        self.pool_timeout: float = options.get("pool_timeout", 30.0)
        self._channel_prefix = self._make_channel_prefix(alias)
        #: Where users' disconnect orders go; never a group's channel, which
        #: has "db<n>:" (on a cluster, "{") right after the prefix.
        self.control_channel = self._make_control_channel()
        self._publisher: Any = None
        self._scripts: dict[str, Any] = {}

    def _make_channel_prefix(self, alias: str) -> str:
        # Redis pub/sub ignores the database number: two projects on /0 and
        # /1 of one server would share every channel (each other's
        # broadcasts and presence). The keys are per database already; the
        # channels carry its number.
        try:
            db = self.redis.connection.parse_url(self.url).get("db", 0)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS']['url'] is not a Redis URL: {exc}"
            ) from None
        return f"{self.prefix}db{db}:"

    def _make_control_channel(self) -> str:
        return f"{self.prefix}control:{self._channel_prefix[len(self.prefix):]}"

    # -- names ---------------------------------------------------------------

    def key(self, group: str, suffix: str) -> str:
        """A key of ``group``'s; the hash tag puts them on one cluster slot."""
        return f"{self.prefix}{{{group}}}.{suffix}"

    def channel(self, group: str) -> str:
        """The pub/sub channel of ``group``."""
        return self._channel_prefix + group

    def group_of(self, channel: str) -> str:
        """The group whose channel is ``channel``."""
        return channel[len(self._channel_prefix):]

    # -- connections ---------------------------------------------------------

    def connect(self) -> Any:
        """A new redis-py client (the listener's pub/sub makes its own)."""
        return self.redis.Redis.from_url(self.url)

    def client(self) -> Any:
        """The client commands share, made at the first command."""
        if self._publisher is None:
            self._publisher = self._make_publisher()
        return self._publisher

    def _make_publisher(self) -> Any:
        # Blocking: a reconnect storm (every client reading its history at
        # once) waits for a connection instead of failing with "Too many
        # connections".
        pool = self.redis.BlockingConnectionPool.from_url(
            self.url, max_connections=self.max_connections, timeout=self.pool_timeout
        )
        return self.redis.Redis(connection_pool=pool)

    def script(self, name: str) -> Any:
        """A script of ``redis_scripts``, registered once."""
        script = self._scripts.get(name)
        if script is None:
            # register_script runs EVALSHA, and loads the script again after
            # a Redis restart emptied its script cache.
            script = self._scripts[name] = self.client().register_script(
                getattr(redis_scripts, name))
        return script

    def publish(self, channel: str, payload: bytes) -> None:
        self.client().publish(channel, payload)

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()

    # -- pub/sub, for the listener (redis_listener.py) -------------------------

    def subscribe(self, pubsub: Any, channel: str) -> None:
        pubsub.subscribe(channel)

    def unsubscribe(self, pubsub: Any, channel: str) -> None:
        pubsub.unsubscribe(channel)

    def get_message(self, pubsub: Any) -> Any:
        return pubsub.get_message(timeout=0)

    def connections(self, pubsub: Any) -> list[Any]:
        """The pub/sub objects whose sockets the listener watches."""
        return [pubsub]

    def down_shard(self, pubsub: Any) -> str | None:
        """The name of a shard whose pub/sub connection is down (cluster only)."""
        return None


class ClusterClient(RedisClient):
    """Redis Cluster (``OPTIONS["cluster"] = True``, ``url`` naming any node)."""

    transaction = False  # a pipeline's keys may be on several shards
    publish_command = "spublish"

    def _make_channel_prefix(self, alias: str) -> str:
        return self.prefix  # a cluster has one database

    def _make_control_channel(self) -> str:
        return f"{self.prefix}control"

    def channel(self, group: str) -> str:
        # Hash-tagged as the group's keys: the publish script's channel is
        # on their shard (sharded pub/sub).
        return f"{self.prefix}{{{group}}}"

    def group_of(self, channel: str) -> str:
        return channel[len(self.prefix) + 1 : -1]

    def connect(self) -> Any:
        import redis.cluster

        return redis.cluster.RedisCluster.from_url(self.url)

    def _make_publisher(self) -> Any:
        return self.connect()  # it keeps a pool per node

    def publish(self, channel: str, payload: bytes) -> None:
        self.client().spublish(channel, payload)

    def subscribe(self, pubsub: Any, channel: str) -> None:
        pubsub.ssubscribe(channel)

    def unsubscribe(self, pubsub: Any, channel: str) -> None:
        pubsub.sunsubscribe(channel)

    def get_message(self, pubsub: Any) -> Any:
        return pubsub.get_sharded_message(timeout=0)

    def connections(self, pubsub: Any) -> list[Any]:
        return list(pubsub.node_pubsub_mapping.values())

    def down_shard(self, pubsub: Any) -> str | None:
        # redis-py's ClusterPubSub reads the shards that are up, and leaves
        # out one that failed; it dropped the failed connection (its socket
        # is gone), and connects again at a later read.
        for name, node in list(pubsub.node_pubsub_mapping.items()):
            if node.connection is not None and getattr(node.connection, "_sock", None) is None:
                return str(name)
        return None
