"""This process's metrics at one moment: the totals plus the open connections.

Shared by the collector (a scrape of one process) and the multiprocess sync
(which writes the same figures into ``PROMETHEUS_MULTIPROC_DIR``). Imports no
prometheus_client.
"""

from __future__ import annotations

import dataclasses

from ..connection import counters

__all__ = ["Snapshot", "take"]


@dataclasses.dataclass
class Snapshot:
    """Every metric's value in this process; see the README's Metrics section."""

    connections: dict[str, int]  # by view label
    opened: int
    closed: dict[tuple[int, str], int]  # by (code, by)
    refused: dict[int, int]  # by status
    received: list[int]  # [text, binary]
    sent: list[int]
    received_bytes: int
    sent_bytes: int
    duration: tuple[list[int], float]  # per-bucket counts (+Inf last), sum
    ping_rtt: tuple[list[int], float]
    broadcasts: int
    broadcast_deliveries: int
    slow_members_dropped: int
    redis_reconnects: int
    recoveries: list[int]  # [not recovered, recovered]
    policy_closes: dict[str, int]  # by reason
    disconnects: dict[str, int]  # by what the order named
    loop_blocked: tuple[list[int], float]


def take() -> Snapshot:
    """Add the open connections' counts to the totals of those that ended.

    One pass over the open connections, with no greenlet switch: a
    connection ending meanwhile is counted once, here or in the totals.
    """
    from ..connection import open_connections

    connections: dict[str, int] = {}
    received = list(counters.messages_in)
    sent = list(counters.messages_out)
    received_bytes, sent_bytes = counters.received_bytes, counters.sent_bytes
    open_count = 0
    for websocket in list(open_connections):
        open_count += 1
        view = websocket.view_name
        connections[view] = connections.get(view, 0) + 1
        received[0] += websocket.messages_in - websocket.binary_in
        received[1] += websocket.binary_in
        sent[0] += websocket.messages_out - websocket.binary_out
        sent[1] += websocket.binary_out
        received_bytes += websocket.bytes_in
        sent_bytes += websocket.bytes_out
    return Snapshot(
        connections=connections,
        opened=counters.finished + open_count,
        closed=dict(counters.closed),
        refused=dict(counters.handshakes_refused),
        received=received,
        sent=sent,
        received_bytes=received_bytes,
        sent_bytes=sent_bytes,
        duration=(list(counters.duration.counts), counters.duration.sum),
        ping_rtt=(list(counters.ping_rtt.counts), counters.ping_rtt.sum),
        broadcasts=counters.broadcasts,
        broadcast_deliveries=counters.broadcast_deliveries,
        slow_members_dropped=counters.slow_members_dropped,
        redis_reconnects=counters.redis_reconnects,
        recoveries=list(counters.recoveries),
        policy_closes=dict(counters.policy_closes),
        disconnects=dict(counters.disconnects),
        loop_blocked=(list(counters.loop_blocked.counts), counters.loop_blocked.sum),
    )
