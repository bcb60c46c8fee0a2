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
process is disconnected from Redis are lost for that process (pub/sub keeps
nothing); the listener reconnects with back-off and subscribes again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..metrics import counters
from .base import GroupBackend, validate_group

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

_TEXT, _BINARY = b"t", b"b"  # first byte of a published payload: the frame type


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ImproperlyConfigured(
            "django_ws.groups.redis.RedisBackend needs the redis package: "
            "pip install 'django-websocket-views[redis]'"
        ) from exc
    return redis


class RedisBackend(GroupBackend):
    """Options: ``url`` (required), ``prefix`` (default ``"django_ws:"``),
    ``subscribe_timeout`` (seconds ``join()`` waits for Redis to confirm, 5)."""

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
        self._publisher: Any = None
        self._subscriber: Any = None
        self._pubsub: Any = None
        self._listener: Any = None
        self._confirmed: dict[str, Any] = {}  # channel -> gevent Event
        self._subscribe_lock: Any = None

    def _channel(self, group: str) -> str:
        return self.prefix + group

    # -- publishing (any process) -----------------------------------------------

    def broadcast(self, group: str, data: bytes, *, text: bool) -> None:
        validate_group(group)
        if self._publisher is None:
            self._publisher = self._redis.Redis.from_url(self.url)
        self._publisher.publish(self._channel(group), (_TEXT if text else _BINARY) + data)

    # -- subscribing (server processes, under gevent) ---------------------------

    def subscribe(self, group: str) -> None:
        import gevent
        from gevent.event import Event
        from gevent.lock import Semaphore

        if self._pubsub is None:
            # Keep the client: when it is garbage-collected, redis-py closes
            # its pool, the pub/sub connection with it.
            self._subscriber = self._redis.Redis.from_url(self.url)
            self._pubsub = self._subscriber.pubsub(ignore_subscribe_messages=False)
            self._subscribe_lock = Semaphore()
        channel = self._channel(group)
        confirmed = self._confirmed[channel] = Event()
        try:
            with self._subscribe_lock:
                self._pubsub.subscribe(channel)
        except BaseException:
            self._confirmed.pop(channel, None)  # join() fails: nothing recorded
            raise
        if self._listener is None or self._listener.dead:
            self._listener = gevent.spawn(self._listen)
        # Wait for Redis to confirm, so that a broadcast made right after
        # join() returns reaches this member.
        if not confirmed.wait(self.subscribe_timeout):
            logger.warning("Redis did not confirm the subscription to %r in %ss",
                           channel, self.subscribe_timeout)

    def unsubscribe(self, group: str) -> None:
        if self._pubsub is None:
            return
        channel = self._channel(group)
        self._confirmed.pop(channel, None)
        with self._subscribe_lock:
            self._pubsub.unsubscribe(channel)

    def _listen(self) -> None:
        """Read the pub/sub connection while a group is subscribed; then end.

        subscribe() starts a new listener for the next first member: no
        polling while this process has no group. Any error is survived (else
        every group of the process would go silent): Redis errors with
        back-off, while redis-py reconnects and subscribes again; others are
        logged with their traceback, after dropping the connection, whose
        stream may be out of step.
        """
        import gevent

        backoff = 0.1
        down_since: float | None = None
        while (pubsub := self._pubsub) is not None and pubsub.subscribed:
            try:
                message = pubsub.get_message(timeout=1.0)
            except Exception as exc:
                if down_since is None:
                    down_since = time.monotonic()
                if isinstance(exc, self._redis.RedisError):
                    logger.warning("Redis pub/sub failed (%s); retrying in %.1fs", exc, backoff)
                else:
                    logger.exception("error reading Redis pub/sub; reconnecting in %.1fs",
                                     backoff)
                    connection = getattr(pubsub, "connection", None)
                    if connection is not None:
                        connection.disconnect()
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if down_since is not None:
                # Pub/sub keeps nothing: say which groups missed what, when.
                logger.warning(
                    "Redis pub/sub is back after %.1fs; broadcasts to %s in that time "
                    "were lost for this process", time.monotonic() - down_since,
                    ", ".join(sorted(repr(g) for g in self._members)) or "no group",
                )
                down_since = None
                counters.redis_reconnects += 1
            if message is not None:
                try:
                    self._handle(message)
                except Exception:
                    logger.exception("error delivering a Redis pub/sub message %r", message)

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        kind = message["type"]
        if kind == "message":
            payload: bytes = message["data"]
            group = channel[len(self.prefix):]
            self.deliver_local(group, payload[1:], text=payload[:1] == _TEXT)
        elif kind == "subscribe":
            confirmed = self._confirmed.get(channel)
            if confirmed is not None:
                confirmed.set()

    def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if self._listener is not None:
            self._listener.kill(block=False)
        if pubsub is not None:
            pubsub.close()
            self._subscriber.close()
        if self._publisher is not None:
            self._publisher.close()
