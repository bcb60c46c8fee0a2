"""Database hygiene for long-lived views.

A WebSocket view may live for hours, mostly blocked waiting for the next
message. Django ties a database connection to the thread (here: the
greenlet) that used it and closes it only when the request finishes, so 500
idle chat views that each ran one query would hold 500 connections. Before
the view blocks, its connections are closed: the next query opens a new one,
as Django does for any request. A connection inside ``atomic()`` is left
alone, since closing it would end the transaction.

Under gevent every connection is its own greenlet, so ``CONN_MAX_AGE`` could
never reuse a connection across requests anyway; closing an idle one loses
nothing. ``CONN_HEALTH_CHECKS`` applies as usual when the next query
reconnects.
"""

from __future__ import annotations

from django.db import connections

__all__ = ["release_idle_connections"]


def release_idle_connections() -> None:
    """Close this greenlet's open database connections, unless in a transaction."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.in_atomic_block:
            connection.close()
