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

from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created
from greenlet import getcurrent

__all__ = ["release_idle_connections"]

# Marks a greenlet that opened a database connection since it last released:
# checked before every wait, so that views that never touch the database pay
# an attribute look-up instead of a walk over Django's connection handler.
_MARK = "django_ws_db_connected"


def _note_connection(sender: Any, **kwargs: Any) -> None:
    setattr(getcurrent(), _MARK, True)


connection_created.connect(_note_connection, dispatch_uid="django_ws.db")


def release_idle_connections() -> None:
    """Close this greenlet's open database connections, unless in a transaction."""
    current = getcurrent()
    if not getattr(current, _MARK, False):
        return
    in_transaction = False
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        if connection.in_atomic_block:
            in_transaction = True
        else:
            connection.close()
    if not in_transaction:
        setattr(current, _MARK, False)
