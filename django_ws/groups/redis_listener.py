"""The Redis backend's pub/sub connection, and the one greenlet that owns it.

redis-py's pub/sub objects are not made to be shared between greenlets.
``ClusterPubSub`` holds a per-node I/O lock for the whole of a poll, and
gevent's lock is not fair: a listener that releases it and takes it again
without yielding keeps a greenlet that waits to SSUBSCRIBE or SUNSUBSCRIBE
behind it for ever (members that never leave, joins that never answer). A
plain ``PubSub`` takes no lock to read, so another greenlet's command may
reconnect the socket under the reader.

So one greenlet, the listener, does every step on the connection:

- joins and leaves hand their SUBSCRIBE and UNSUBSCRIBE to it (a queue it
  runs before each read) and wait for its answer;
- it reads only what has arrived (``timeout=0``), so that redis-py never
  waits on the socket, lock held or not;
- it waits for the next message *outside* redis-py: an ``Event`` set by
  the hub when one of the connection's sockets (one per shard, on a
  cluster) becomes readable, or by a join or leave that queued a step.

No greenlet ever waits on redis-py's lock, and no step waits for another's
timeout: a join is answered in one round trip however long the listener
would otherwise wait, and on a cluster a message is read as soon as it
arrives, on any shard (redis-py's own cluster poll splits its timeout
between the shards in turn).

The sockets are a redis-py internal (``AbstractConnection._sock``, listed
in ``django_ws/internals.py``): where a release hides them, the listener
polls every ``POLL`` seconds instead, which is slower, never stuck.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..connection import counters
from .redis_client import RedisClient

__all__ = ["Listener"]

logger = logging.getLogger(__name__)

#: Seconds the listener waits with nothing to read, nothing asked of it:
#: the pace at which it notices a connection that died without a word.
IDLE_WAIT = 1.0
#: Seconds between reads while a socket cannot be watched (down, reconnecting).
POLL = 0.05
#: Messages the listener delivers before it lets the other greenlets run:
#: a flood of broadcasts must not hold the hub.
READ_BUDGET = 64


class _Outage:
    """Since when the connection (or a shard's) is down, and the back-off."""

    def __init__(self) -> None:
        self.since: float | None = None
        self._backoff = 0.1
        self._next_report = 0.0

    def next_delay(self) -> float:
        """Start the outage, or go on with it: the seconds until the next try."""
        if self.since is None:
            self.since = time.monotonic()
        delay, self._backoff = self._backoff, min(self._backoff * 2, 5.0)
        return delay

    def report_due(self) -> bool:
        """Whether a shard still down is worth a line in the log again (back-off)."""
        now = time.monotonic()
        if self.since is not None and now < self._next_report:
            return False
        self._next_report = now + self._backoff
        return True


@dataclass
class _Step:
    """A SUBSCRIBE or UNSUBSCRIBE asked of the listener, and its answer."""

    subscribe: bool
    channel: str
    done: Any  # a gevent AsyncResult: None, or the exception the step raised


class Listener:
    """The pub/sub connection of one backend in one process, and its reader.

    Args:
        redis: the backend's ``RedisClient`` (or ``ClusterClient``: sharded
            pub/sub, read from every shard): it makes the pub/sub's client
            and runs the commands that differ between the two.
        handle: called in the listener with each message redis-py returns
            (messages, subscribe confirmations), in order.
        describe_groups: the groups whose broadcasts an outage may have cost,
            for the log line that says the connection is back.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        handle: Callable[[dict[str, Any]], None],
        describe_groups: Callable[[], str],
    ) -> None:
        self._redis = redis
        self._handle = handle
        self._describe_groups = describe_groups
        self._client: Any = None
        self._pubsub: Any = None
        self._greenlet: Any = None
        self._steps: deque[_Step] = deque()
        self._confirmed: dict[str, Any] = {}  # channel -> gevent Event
        self._ready: Any = None  # gevent Event: something to read or to run

    @property
    def running(self) -> bool:
        """Whether the listener greenlet is alive (it ends with the last channel)."""
        return self._greenlet is not None and not self._greenlet.dead

    # -- asked by joins and leaves -------------------------------------------------

    def subscribe(self, channel: str, timeout: float) -> bool:
        """Subscribe to ``channel``; whether Redis confirmed it within ``timeout``.

        Raises what redis-py raised for the SUBSCRIBE (Redis down): nothing
        is then recorded.
        """
        from gevent.event import Event

        confirmed = self._confirmed[channel] = Event()
        try:
            self._run(_Step(subscribe=True, channel=channel, done=None))
        except BaseException:
            self._confirmed.pop(channel, None)
            raise
        # Confirmed, a broadcast made right after join() returns reaches
        # this process.
        return bool(confirmed.wait(timeout))

    def unsubscribe(self, channel: str) -> None:
        if self._pubsub is None:
            return
        self._confirmed.pop(channel, None)
        self._run(_Step(subscribe=False, channel=channel, done=None))

    def _run(self, step: _Step) -> None:
        """Queue ``step`` for the listener, start it if need be, wait for it."""
        import gevent
        from gevent.event import AsyncResult, Event

        if self._pubsub is None:
            # A cluster's client finds its nodes as it is made: this may
            # yield, and another first step may make one meanwhile. One wins;
            # a second pub/sub would end the listener reading the first,
            # failing every step queued for it.
            client = self._redis.connect()
            if self._pubsub is None:
                # Keep the client: when it is garbage-collected, redis-py
                # closes its pool, the pub/sub connection with it.
                self._client = client
                self._pubsub = client.pubsub(ignore_subscribe_messages=False)
                self._ready = Event()
            else:
                client.close()
        step.done = AsyncResult()
        self._steps.append(step)
        self._ready.set()
        # No yield since the append: a listener alive now will see the step
        # before it ends (it ends only with no step queued).
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._listen, self._pubsub)
        error = step.done.get()
        if error is not None:
            raise error

    # -- the listener --------------------------------------------------------------

    def _listen(self, pubsub: Any) -> None:
        """Run the queued steps and read, while a channel is subscribed.

        A join starts a new listener for the next first member: no reading
        while this process has no group. Any error is survived (else every
        group of the process would go silent): Redis errors with back-off,
        while redis-py reconnects and subscribes again; others are logged
        with their traceback, after dropping the connection, whose stream
        may be out of step.
        """
        import gevent

        outage = _Outage()
        more = True  # the last read stopped at its budget: read again at once
        try:
            while self._pubsub is pubsub and (self._steps or pubsub.subscribed):
                self._run_steps(pubsub)
                if not more:
                    self._wait(pubsub, POLL if outage.since is not None else IDLE_WAIT)
                    self._run_steps(pubsub)
                try:
                    more = self._read(pubsub)
                except Exception as exc:
                    more = False
                    delay = outage.next_delay()
                    self._log_failure(pubsub, exc, delay)
                    gevent.sleep(delay)
                    continue
                down = self._down_shard(pubsub)
                if down is not None:
                    # A cluster reads the shards that are up, and tries the
                    # one that is down again at a later read: no sleep here,
                    # which would stall the others, only the same reports.
                    if outage.report_due():
                        logger.warning("Redis pub/sub failed (shard %s is down); retrying in "
                                       "%.1fs", down, outage.next_delay())
                elif outage.since is not None:
                    # Pub/sub keeps nothing: say which groups missed what, when.
                    logger.warning(
                        "Redis pub/sub is back after %.1fs; broadcasts to %s in that time "
                        "were lost for this process's plain members (envelope members "
                        "recover them from the history)", time.monotonic() - outage.since,
                        self._describe_groups() or "no group",
                    )
                    outage = _Outage()
                    counters.redis_reconnects += 1
                if more:
                    gevent.sleep(0)
        finally:
            # Killed (close()) or done: nobody waits for ever on a step.
            while self._steps:
                self._steps.popleft().done.set(
                    self._redis.redis.RedisError("the Redis listener stopped"))

    def _run_steps(self, pubsub: Any) -> None:
        while self._steps:
            # Left queued until answered: killed in the middle of a step, the
            # listener still answers it (in _listen's finally).
            step = self._steps[0]
            error: Exception | None = None
            try:
                if step.subscribe:
                    self._redis.subscribe(pubsub, step.channel)
                else:
                    self._redis.unsubscribe(pubsub, step.channel)
            except Exception as exc:
                error = exc
            self._steps.popleft()
            step.done.set(error)

    def _read(self, pubsub: Any) -> bool:
        """Handle what has arrived; True if the budget ran out first."""
        get = self._redis.get_message
        for _ in range(READ_BUDGET):
            message = get(pubsub)
            if message is None:
                return False
            kind = message["type"]
            if kind in ("subscribe", "ssubscribe", b"subscribe", b"ssubscribe"):
                channel = message["channel"]
                confirmed = self._confirmed.get(
                    channel.decode() if isinstance(channel, bytes) else channel)
                if confirmed is not None:
                    confirmed.set()
            try:
                self._handle(message)
            except Exception:
                logger.exception("error delivering a Redis pub/sub message %r", message)
        return True

    def _wait(self, pubsub: Any, timeout: float) -> None:
        """Wait until a socket is readable, a step is queued, or ``timeout``."""
        from gevent import get_hub

        ready = self._ready
        if ready.is_set():
            ready.clear()
            return
        sockets = self._sockets(pubsub)
        if sockets is None:
            timeout = min(timeout, POLL)  # a socket we cannot watch: poll it
            sockets = []
        loop = get_hub().loop
        watchers = []
        try:
            for sock in sockets:
                watcher = loop.io(sock.fileno(), 1)  # 1: readable
                watcher.start(ready.set)
                watchers.append(watcher)
            ready.wait(timeout)
        finally:
            for watcher in watchers:
                watcher.stop()
                watcher.close()
        ready.clear()

    def _sockets(self, pubsub: Any) -> list[Any] | None:
        """The connection's open sockets; None if one is down or hidden."""
        sockets = []
        for each in self._redis.connections(pubsub):
            sock = getattr(getattr(each, "connection", None), "_sock", None)
            if sock is None or sock.fileno() < 0:
                return None
            sockets.append(sock)
        return sockets

    def _down_shard(self, pubsub: Any) -> str | None:
        """Cluster only: the name of a shard whose pub/sub connection is down.

        redis-py's ClusterPubSub reads the shards that are up, and leaves out
        one that failed: a message from a shard that is up says nothing of
        the one that failed (else each such message would end the outage in
        the log and the metrics, and the next read fail again). redis-py
        dropped the failed connection (its socket is gone); it connects, and
        subscribes again, at a later read.
        """
        return self._redis.down_shard(pubsub)
        for name, node in list(pubsub.node_pubsub_mapping.items()):
            if node.connection is not None and getattr(node.connection, "_sock", None) is None:
                return str(name)
        return None

    def _log_failure(self, pubsub: Any, exc: Exception, backoff: float) -> None:
        if isinstance(exc, self._redis.redis.RedisError):
            logger.warning("Redis pub/sub failed (%s); retrying in %.1fs", exc, backoff)
            return
        logger.exception("error reading Redis pub/sub; reconnecting in %.1fs", backoff)
        connection = getattr(pubsub, "connection", None)
        if connection is not None:
            connection.disconnect()

    def close(self) -> None:
        """Stop the listener and close the connection."""
        pubsub, self._pubsub = self._pubsub, None
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            # Before the sockets close: the listener may be watching them.
            try:
                greenlet.kill(block=True, timeout=1.0)
            except Exception:
                greenlet.kill(block=False)  # not from a greenlet: the hub ends it later
        if pubsub is not None:
            pubsub.close()
            self._client.close()
