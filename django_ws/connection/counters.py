"""The counts behind the metrics: plain integers, no lock, no library.

Counting costs one integer addition where it happens: a connection counts
its own messages and bytes in attributes of its own (``messages_in``,
``binary_in``, ``bytes_in``, ... on :class:`~django_ws.connection.WebSocket`),
and what belongs to no connection (broadcasts, refused handshakes, Redis
reconnects, groups' recoveries) is counted in this module's globals. When a
connection ends, :func:`fold` adds its counts to this process's totals; a
scrape adds the totals and the open connections' counts (see
``django_ws/metrics/collector.py``). Nothing here imports prometheus_client
nor Django: it sits in the connection core, the bottom of the layers, and
the groups, the handler and the watchdog count here too.

No lock: under gevent the increments run on one thread and never switch in
the middle. In a process with real threads (a broadcast from a threaded
server), two simultaneous increments of a global may lose one count.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .websocket import WebSocket

__all__ = [
    "DURATION_BUCKETS",
    "LOOP_BLOCKED_BUCKETS",
    "PING_RTT_BUCKETS",
    "Histogram",
    "closed_by",
    "fold",
    "refused",
]

#: Upper bounds (seconds) of django_ws_connection_duration_seconds.
DURATION_BUCKETS = (0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0, 86400.0)
#: Upper bounds (seconds) of django_ws_ping_rtt_seconds.
PING_RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Upper bounds (seconds) of django_ws_loop_blocked_seconds.
LOOP_BLOCKED_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Histogram:
    """Observations counted per bucket (not cumulative), and their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # le: value <= bound
        self.sum += value


# -- this process's totals ------------------------------------------------------

#: Connections that ended, by (close code, who closed).
closed: dict[tuple[int, str], int] = {}
#: Messages of the connections that ended: [text, binary].
messages_in = [0, 0]
messages_out = [0, 0]
#: Bytes of frames read and written by the connections that ended.
received_bytes = 0
sent_bytes = 0
finished = 0  # connections that ended (opened = this + the open ones)
duration = Histogram(DURATION_BUCKETS)
ping_rtt = Histogram(PING_RTT_BUCKETS)
#: Handshakes answered with anything but a 101, by HTTP status.
handshakes_refused: dict[int, int] = {}
broadcasts = 0  # groups.broadcast() calls in this process
broadcast_deliveries = 0  # group messages handed to a member of this process
slow_members_dropped = 0  # members disconnected past WEBSOCKET_MAX_SEND_BUFFER
redis_reconnects = 0  # times the Redis pub/sub listener came back after a failure
#: Recovery attempts of envelope members, indexed by their outcome:
#: [not recovered, recovered] (``recoveries[recovered] += 1``). Counted by
#: ``groups.recovery.recover()``: a join given a ``since`` position, and
#: every resync (a gap in the live messages, the Redis listener back after
#: an outage); not a join with nothing to recover (see there).
recoveries = [0, 0]
#: Spans during which the event loop was blocked past
#: WEBSOCKET_LOOP_BLOCKED_THRESHOLD (observed by django_ws.server.watchdog's thread).
loop_blocked = Histogram(LOOP_BLOCKED_BUCKETS)
#: Connections the server closed with 1008 for what the client sent, by
#: cause: "fragments", "control_frames" (django_ws.protocol.FrameBudget),
#: "message_rate" (WEBSOCKET_MESSAGE_RATE with WEBSOCKET_RATE_LIMIT_CLOSE).
policy_closes: dict[str, int] = {}


#: Connections this process closed for a disconnect order
#: (django_ws.groups.disconnect), by what the order named: "user" (a new
#: password too), "group", "logout" (Django's logout(), a session's
#: connections), "replaced" (WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY).
disconnects: dict[str, int] = {}


def disconnected(by: str) -> None:
    """A disconnect order closed a connection of this process (``by``: a bounded label)."""
    disconnects[by] = disconnects.get(by, 0) + 1


def policy_close(reason: str) -> None:
    """The server closed a connection with 1008 because of ``reason`` (a bounded label)."""
    policy_closes[reason] = policy_closes.get(reason, 0) + 1


def closed_by(websocket: WebSocket) -> str:
    """``"client"`` or ``"server"``: who sent the close frame that started the
    closing; a connection lost without any close frame (1006) counts as the
    client's."""
    by_client = websocket.closed_by_client
    if by_client is None:
        # The server failed the connection (a protocol error of the client's,
        # a keepalive timeout): its close frame came first.
        by_client = websocket.protocol.close_sent is None
    return "client" if by_client else "server"


def fold(websocket: WebSocket) -> None:
    """Add an ending connection's counts to this process's totals.

    Called once per connection, by ``WebSocket.finish()``, just before it
    leaves ``open_connections``: a scrape sees its counts either there or
    here, never in both, since nothing switches greenlets in between.
    """
    global received_bytes, sent_bytes, finished
    key = (websocket.close_code or 1006, closed_by(websocket))
    closed[key] = closed.get(key, 0) + 1
    messages_in[0] += websocket.messages_in - websocket.binary_in
    messages_in[1] += websocket.binary_in
    messages_out[0] += websocket.messages_out - websocket.binary_out
    messages_out[1] += websocket.binary_out
    received_bytes += websocket.bytes_in
    sent_bytes += websocket.bytes_out
    finished += 1
    if websocket.opened_at is not None:
        duration.observe(time.monotonic() - websocket.opened_at)


def refused(status: int) -> None:
    """A handshake was answered with ``status`` instead of a 101."""
    handshakes_refused[status] = handshakes_refused.get(status, 0) + 1
