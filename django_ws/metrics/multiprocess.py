"""Several worker processes, one total: prometheus_client's multiprocess mode.

With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client keeps each metric of
each process in a memory-mapped file of that directory, and its
``MultiProcessCollector`` sums them when any process is scraped; a custom
collector, which lives in one process, is not part of that. So each server
process copies its counts (:mod:`~django_ws.metrics.snapshot`) into
prometheus_client metric objects every ``WEBSOCKET_METRICS_INTERVAL`` seconds
(5), when it is scraped, and when it exits: the objects write the files, the
counting itself stays plain integers.

Why copy at an interval rather than count with prometheus_client's objects:
in multiprocess mode each ``inc()`` takes a lock and writes the mapped file,
about a microsecond, on every message; the copy costs one pass over the open
connections per interval, whatever the traffic. The price is that a scrape
sees the other workers' counts as of their last copy, at most one interval
old. The gauge of open connections is ``livesum``: the files of a dead worker
are dropped by ``mark_process_dead`` (``django_ws.gunicorn.child_exit``), its
counters stay in the totals, as Prometheus expects of counters.

The histograms are copied bucket by bucket, through prometheus_client's
private ``Histogram._buckets`` and ``_sum`` (listed in
``django_ws.internals``): its public ``observe()`` takes one value at a time.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..connection import counters
from .snapshot import Snapshot, take

__all__ = ["enabled", "start", "stop", "sync"]

logger = logging.getLogger(__name__)

_metrics: dict[str, Any] | None = None
#: What was last written, by (metric, labels): what the next copy adds.
_written: dict[tuple[str, tuple[str, ...]], float] = {}
_gauge_views: set[str] = set()
_syncer: Any = None


def directory() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR``, if set (prometheus_client's multiprocess mode)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def enabled() -> bool:
    """Whether prometheus_client runs in multiprocess mode in this process."""
    return directory() is not None


def _make() -> dict[str, Any]:
    # Here, not at the top: runws and the gunicorn worker import this module
    # whether or not the [metrics] extra is installed.
    from prometheus_client import Counter, Gauge, Histogram

    from .collector import DOCS

    def counter(name: str, labels: tuple[str, ...] = ()) -> Any:
        return Counter(name, DOCS[name], labels, registry=None)

    return {
        "django_ws_connections": Gauge(
            "django_ws_connections",
            DOCS["django_ws_connections"],
            ["view"],
            registry=None,
            multiprocess_mode="livesum",
        ),
        "django_ws_connections_opened": counter("django_ws_connections_opened"),
        "django_ws_connections_closed": counter("django_ws_connections_closed", ("code", "by")),
        "django_ws_handshakes_refused": counter("django_ws_handshakes_refused", ("status",)),
        "django_ws_messages_received": counter("django_ws_messages_received", ("kind",)),
        "django_ws_messages_sent": counter("django_ws_messages_sent", ("kind",)),
        "django_ws_received_bytes": counter("django_ws_received_bytes"),
        "django_ws_sent_bytes": counter("django_ws_sent_bytes"),
        "django_ws_connection_duration_seconds": Histogram(
            "django_ws_connection_duration_seconds",
            DOCS["django_ws_connection_duration_seconds"],
            registry=None,
            buckets=counters.DURATION_BUCKETS,
        ),
        "django_ws_ping_rtt_seconds": Histogram(
            "django_ws_ping_rtt_seconds",
            DOCS["django_ws_ping_rtt_seconds"],
            registry=None,
            buckets=counters.PING_RTT_BUCKETS,
        ),
        "django_ws_loop_blocked_seconds": Histogram(
            "django_ws_loop_blocked_seconds",
            DOCS["django_ws_loop_blocked_seconds"],
            registry=None,
            buckets=counters.LOOP_BLOCKED_BUCKETS,
        ),
        "django_ws_broadcasts": counter("django_ws_broadcasts"),
        "django_ws_broadcast_deliveries": counter("django_ws_broadcast_deliveries"),
        "django_ws_slow_members_dropped": counter("django_ws_slow_members_dropped"),
        "django_ws_redis_reconnects": counter("django_ws_redis_reconnects"),
        "django_ws_recoveries": counter("django_ws_recoveries", ("recovered",)),
        "django_ws_policy_closes": counter("django_ws_policy_closes", ("reason",)),
        "django_ws_disconnects": counter("django_ws_disconnects", ("by",)),
    }


def _add(metric: Any, name: str, labels: tuple[str, ...], value: float) -> None:
    key = (name, labels)
    delta = value - _written.get(key, 0)
    if delta > 0:
        (metric.labels(*labels) if labels else metric).inc(delta)
        _written[key] = value


def _add_histogram(metric: Any, name: str, counts: list[int], total: float) -> None:
    for index, count in enumerate(counts):
        key = (name, (str(index),))
        delta = count - _written.get(key, 0)
        if delta > 0:
            metric._buckets[index].inc(delta)
            _written[key] = count
    key = (name, ("sum",))
    if total != _written.get(key, 0.0):
        metric._sum.inc(total - _written.get(key, 0.0))
        _written[key] = total


def sync(snapshot: Snapshot | None = None) -> None:
    """Write this process's counts into ``PROMETHEUS_MULTIPROC_DIR`` now."""
    global _metrics
    if _metrics is None:
        _metrics = _make()
    metrics = _metrics
    snapshot = snapshot or take()
    gauge = metrics["django_ws_connections"]
    for view in _gauge_views - snapshot.connections.keys():
        gauge.labels(view).set(0)
    for view, value in snapshot.connections.items():
        gauge.labels(view).set(value)
    _gauge_views.update(snapshot.connections)
    _add(metrics["django_ws_connections_opened"], "opened", (), snapshot.opened)
    for (code, by), value in snapshot.closed.items():
        _add(metrics["django_ws_connections_closed"], "closed", (str(code), by), value)
    for status, value in snapshot.refused.items():
        _add(metrics["django_ws_handshakes_refused"], "refused", (str(status),), value)
    for name, counts in (
        ("django_ws_messages_received", snapshot.received),
        ("django_ws_messages_sent", snapshot.sent),
    ):
        _add(metrics[name], name, ("text",), counts[0])
        _add(metrics[name], name, ("binary",), counts[1])
    for name, value in (
        ("django_ws_received_bytes", snapshot.received_bytes),
        ("django_ws_sent_bytes", snapshot.sent_bytes),
        ("django_ws_broadcasts", snapshot.broadcasts),
        ("django_ws_broadcast_deliveries", snapshot.broadcast_deliveries),
        ("django_ws_slow_members_dropped", snapshot.slow_members_dropped),
        ("django_ws_redis_reconnects", snapshot.redis_reconnects),
    ):
        _add(metrics[name], name, (), value)
    for recovered in (True, False):
        _add(
            metrics["django_ws_recoveries"],
            "django_ws_recoveries",
            (str(recovered).lower(),),
            snapshot.recoveries[recovered],
        )
    for reason, value in snapshot.policy_closes.items():
        _add(metrics["django_ws_policy_closes"], "policy_closes", (reason,), value)
    for by, value in snapshot.disconnects.items():
        _add(metrics["django_ws_disconnects"], "disconnects", (by,), value)
    _add_histogram(metrics["django_ws_connection_duration_seconds"], "duration", *snapshot.duration)
    _add_histogram(metrics["django_ws_ping_rtt_seconds"], "ping_rtt", *snapshot.ping_rtt)
    _add_histogram(metrics["django_ws_loop_blocked_seconds"], "loop_blocked",
                   *snapshot.loop_blocked)


def _sync_quietly() -> None:
    try:
        sync()
    except Exception:  # a full disk must not stop the server
        logger.exception("could not write the metrics to PROMETHEUS_MULTIPROC_DIR")


def _run(interval: float) -> None:
    import gevent

    while True:
        gevent.sleep(interval)
        _sync_quietly()


def start() -> bool:
    """Start copying this process's counts, if in multiprocess mode.

    Called by ``runws`` and the gunicorn worker once serving; does nothing
    without ``PROMETHEUS_MULTIPROC_DIR`` or without prometheus_client.

    Returns:
        Whether the copying runs.
    """
    global _syncer
    if not enabled():
        return False
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is set but prometheus_client is not "
            "installed: pip install 'django-websocket-views[metrics]'"
        )
        return False
    if _syncer is None or _syncer.dead:
        import gevent

        from ..conf import settings

        _syncer = gevent.spawn(_run, settings.METRICS_INTERVAL)
    return True


def stop() -> None:
    """The last copy, at the end of the process (no connection is left)."""
    global _syncer
    syncer, _syncer = _syncer, None
    if syncer is not None:
        syncer.kill(block=False)
        _sync_quietly()
