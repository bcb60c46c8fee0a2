"""Holding the close frame while the view takes the messages before an error.

The client sent valid messages, then an error, in one read: the sans-I/O
protocol failed the connection at once (RFC 6455 7.1.7), its close frame
ready to go. The messages were valid, so the view gets them first, and what
it sends in answer goes out before that close frame, as if the error had
come in a later read: Autobahn's strict verdict (cases 3.2, 3.3, 4.1.3,
4.1.4, 4.2.3, 4.2.4, 5.15). The close goes as soon as the view waits with
nothing queued, closes, ends, or after ``HOLD_FOR`` seconds, whichever comes
first (``WebSocket._release_held``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent

from ..protocol import WebSocketProtocol

__all__ = ["HOLD_FOR", "HeldClose", "failed_after_messages"]

#: How long the close frame of a connection the protocol failed waits for
#: the view to take the valid messages that came before the error.
HOLD_FOR = 1.0


def failed_after_messages(protocol: WebSocketProtocol, events: list[Any],
                          closed_by_client: bool | None) -> bool:
    """Whether the protocol just failed the connection for an error of the
    client's that came after valid messages, in the same read."""
    return (
        protocol.close_sent is not None and protocol.close_rcvd is None
        and closed_by_client is None
        # Compressed frames need the protocol, which sends nothing once
        # closing: the close goes out at once, as before.
        and not protocol.extensions
        and any(type(event) is str or type(event) is bytes for event in events)
    )


class HeldClose:
    """The protocol's output that ends the connection, and the timer that sends it."""

    __slots__ = ("_timer", "writes")

    def __init__(self, writes: list[bytes], release: Callable[[], None]) -> None:
        self.writes = writes
        self._timer = gevent.get_hub().loop.timer(HOLD_FOR)
        self._timer.start(release)  # never blocks: it runs in the hub

    def cancel(self) -> None:
        """Stop the timer (it holds the release callback, and with it the connection)."""
        self._timer.close()
