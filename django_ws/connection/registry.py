"""The open connections of this process, and what shutdown does with them."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event

if TYPE_CHECKING:  # pragma: no cover
    from .websocket import WebSocket

__all__ = ["close_open_connections", "open_connections", "wait_for_detached"]

#: The accepted, not yet finished connections of this process: what graceful
#: shutdown closes. Weak, so that a leaked handler cannot keep one alive.
open_connections: weakref.WeakSet[WebSocket] = weakref.WeakSet()

#: Connections served by callbacks after their view returned (see
#: WebSocket.detach): no greenlet holds them while they wait, this does.
detached_connections: set[WebSocket] = set()
#: Set while no detached connection is left: what shutdown waits for.
none_detached = Event()
none_detached.set()


def wait_for_detached(timeout: float | None) -> bool:
    """Wait until every detached connection has ended; False on timeout.

    Graceful shutdown: they hold no greenlet of the server's pool, so
    stopping the server does not wait for them.
    """
    return bool(none_detached.wait(timeout))


def close_open_connections(
    code: int, reason: str = "", *, started: weakref.WeakSet[WebSocket] | None = None
) -> list[gevent.Greenlet[Any, Any]]:
    """Start closing every open connection of this process, each on a greenlet.

    What both servers do on shutdown (``runws`` and the gunicorn worker,
    which calls this again while its listener may still let one in).

    Args:
        started: the connections whose close was started by an earlier call,
            updated here. Each is left to the close under way and its close
            timeout: a second close would only wait for the same answer.

    Returns:
        The greenlets started, one per connection.
    """
    greenlets = []
    for websocket in list(open_connections):
        if websocket.closed or (started is not None and websocket in started):
            continue
        if started is not None:
            started.add(websocket)
        greenlets.append(gevent.spawn(websocket.close, code, reason))
    return greenlets
