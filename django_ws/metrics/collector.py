"""The Prometheus collector: this process's counts, summed at scrape time.

A custom collector (prometheus_client's documented extension point) reads
:func:`~django_ws.metrics.snapshot.take` when scraped, so that counting
itself is a plain integer addition, with no lock and no prometheus_client
call per message. Register it in any registry::

    from prometheus_client import REGISTRY
    REGISTRY.register(DjangoWsCollector())   # or django_ws.metrics.register()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..connection import counters
from .snapshot import Snapshot, take

__all__ = ["DOCS", "DjangoWsCollector", "families"]

#: Each metric's help text, by name (counters without their ``_total``).
DOCS = {
    "django_ws_connections": "Open WebSocket connections, by view (URL name).",
    "django_ws_connections_opened": "WebSocket connections accepted (101 sent).",
    "django_ws_connections_closed": "WebSocket connections ended, by close code and by who "
    "sent the first close frame (1006: none, counted as client).",
    "django_ws_handshakes_refused": "WebSocket handshakes answered with another status than 101.",
    "django_ws_messages_received": "WebSocket messages received, by kind (text/binary).",
    "django_ws_messages_sent": "WebSocket messages sent, by kind (text/binary), group "
    "messages included.",
    "django_ws_received_bytes": "Bytes of WebSocket frames read from clients (headers "
    "included, compressed as sent).",
    "django_ws_sent_bytes": "Bytes of WebSocket frames written to clients (headers "
    "included, compressed as sent).",
    "django_ws_connection_duration_seconds": "How long WebSocket connections lived, from the "
    "101 to their end.",
    "django_ws_broadcasts": "groups.broadcast() calls made in this process.",
    "django_ws_broadcast_deliveries": "Group messages handed to a member connection of this "
    "process.",
    "django_ws_slow_members_dropped": "Members disconnected for leaving more than "
    "WEBSOCKET_MAX_SEND_BUFFER bytes unread.",
    "django_ws_ping_rtt_seconds": "Round trip of keepalive pings: each pong matched to its ping.",
    "django_ws_loop_blocked_seconds": "Spans during which the event loop was blocked past "
    "WEBSOCKET_LOOP_BLOCKED_THRESHOLD (every connection of the process waited).",
    "django_ws_redis_reconnects": "Times the Redis pub/sub listener came back after a failure.",
    "django_ws_recoveries": "Recoveries of group messages missed by an envelope member (a "
    "join given a position, a resync), by whether all were delivered.",
    "django_ws_policy_closes": "WebSocket connections the server closed with 1008 for what "
    "the client sent, by reason (fragments, control_frames, message_rate).",
    "django_ws_disconnects": "WebSocket connections closed by a disconnect order "
    "(django_ws.groups.disconnect), by what it named (user, group, logout, replaced).",
}


def _buckets(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    # The exposition format's buckets are cumulative; ours are not.
    cumulative: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        running += count
        cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
    return cumulative


def families(snapshot: Snapshot) -> Iterator[Metric]:
    """The metric families of a snapshot, in the README's order."""
    gauge = GaugeMetricFamily(
        "django_ws_connections", DOCS["django_ws_connections"], labels=["view"]
    )
    for view, value in sorted(snapshot.connections.items()):
        gauge.add_metric([view], value)
    yield gauge
    yield CounterMetricFamily(
        "django_ws_connections_opened", DOCS["django_ws_connections_opened"], value=snapshot.opened
    )
    closed = CounterMetricFamily(
        "django_ws_connections_closed", DOCS["django_ws_connections_closed"], labels=["code", "by"]
    )
    for (code, by), value in sorted(snapshot.closed.items()):
        closed.add_metric([str(code), by], value)
    yield closed
    refused = CounterMetricFamily(
        "django_ws_handshakes_refused", DOCS["django_ws_handshakes_refused"], labels=["status"]
    )
    for status, value in sorted(snapshot.refused.items()):
        refused.add_metric([str(status)], value)
    yield refused
    for name, counts in (
        ("django_ws_messages_received", snapshot.received),
        ("django_ws_messages_sent", snapshot.sent),
    ):
        family = CounterMetricFamily(name, DOCS[name], labels=["kind"])
        family.add_metric(["text"], counts[0])
        family.add_metric(["binary"], counts[1])
        yield family
    for name, value in (
        ("django_ws_received_bytes", snapshot.received_bytes),
        ("django_ws_sent_bytes", snapshot.sent_bytes),
    ):
        yield CounterMetricFamily(name, DOCS[name], value=value)
    for name, bounds, (counts, total) in (
        ("django_ws_connection_duration_seconds", counters.DURATION_BUCKETS, snapshot.duration),
        ("django_ws_ping_rtt_seconds", counters.PING_RTT_BUCKETS, snapshot.ping_rtt),
        ("django_ws_loop_blocked_seconds", counters.LOOP_BLOCKED_BUCKETS, snapshot.loop_blocked),
    ):
        yield HistogramMetricFamily(
            name, DOCS[name], buckets=_buckets(bounds, counts), sum_value=total
        )
    for name, value in (
        ("django_ws_broadcasts", snapshot.broadcasts),
        ("django_ws_broadcast_deliveries", snapshot.broadcast_deliveries),
        ("django_ws_slow_members_dropped", snapshot.slow_members_dropped),
        ("django_ws_redis_reconnects", snapshot.redis_reconnects),
    ):
        yield CounterMetricFamily(name, DOCS[name], value=value)
    recoveries = CounterMetricFamily(
        "django_ws_recoveries", DOCS["django_ws_recoveries"], labels=["recovered"]
    )
    recoveries.add_metric(["true"], snapshot.recoveries[True])
    recoveries.add_metric(["false"], snapshot.recoveries[False])
    yield recoveries
    policy = CounterMetricFamily(
        "django_ws_policy_closes", DOCS["django_ws_policy_closes"], labels=["reason"]
    )
    for reason, value in sorted(snapshot.policy_closes.items()):
        policy.add_metric([reason], value)
    yield policy
    disconnects = CounterMetricFamily(
        "django_ws_disconnects", DOCS["django_ws_disconnects"], labels=["by"]
    )
    for by, value in sorted(snapshot.disconnects.items()):
        disconnects.add_metric([by], value)
    yield disconnects


class DjangoWsCollector(Collector):
    """django_ws's metrics for one process, read when the registry is scraped."""

    def collect(self) -> Iterator[Metric]:
        return families(take())

    def describe(self) -> list[Any]:
        # Registering must not take a snapshot (the registry calls collect()
        # without describe()); an empty list says "no fixed names".
        return []
