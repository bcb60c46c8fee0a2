"""The contract of a groups backend.

A backend keeps, for this process, which connections are in which group, and
carries broadcasts to the processes that have members:

- ``join(group, websocket)`` / ``leave(group, websocket)``: membership of a
  local connection. The first local member of a group calls
  :meth:`subscribe`, the last one leaving calls :meth:`unsubscribe`. A group
  counts as joined once ``subscribe()`` returned: members joining meanwhile
  wait for it, and when it raises they all get its error and nothing is
  recorded, so that the next member subscribes again.
- ``broadcast(group, data, text=...)``: callable from any sync code, with or
  without gevent, in any process; must reach every member of every process
  once, in the order one sender broadcast.
- ``deliver_local(group, data, text=...)``: hand a message to this process's
  members; what a backend calls when a broadcast reaches it.
- ``close()``: release connections and greenlets.

Group names are non-empty strings of at most 200 characters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.frames import Frame, Opcode

from ..metrics import counters

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket

__all__ = ["GroupBackend", "validate_group"]

logger = logging.getLogger(__name__)

MAX_GROUP_NAME = 200


@dataclass
class _Subscribing:
    """A subscribe() under way, that the group's other new members wait for."""

    done: Any  # a gevent Event, set when subscribe() returned or raised
    error: Exception | None = None


def validate_group(group: str) -> None:
    """Raise a clear error for a group name no backend can carry."""
    if not isinstance(group, str) or not group or len(group) > MAX_GROUP_NAME:
        raise ValueError(
            f"invalid group name {group!r}: expected a non-empty str of at most "
            f"{MAX_GROUP_NAME} characters"
        )


class GroupBackend:
    """Base class: local membership and delivery; subclasses carry broadcasts."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        self.alias = alias
        self.options = options
        self._members: dict[str, dict[WebSocket, None]] = {}
        self._subscribing: dict[str, _Subscribing] = {}

    # -- membership (this process) ---------------------------------------------

    def join(self, group: str, websocket: WebSocket) -> None:
        validate_group(group)
        while (members := self._members.get(group)) is None:
            pending = self._subscribing.get(group)
            if pending is None:
                self._subscribe_first(group)
                continue
            # Another member's subscribe() blocks (waiting for Redis to
            # confirm): a broadcast made after this join() returns must reach
            # this member too.
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
        members[websocket] = None

    def _subscribe_first(self, group: str) -> None:
        # Recorded only once subscribed: a group recorded after a failed
        # subscribe() would never be subscribed while it has members.
        from gevent.event import Event

        pending = self._subscribing[group] = _Subscribing(Event())
        try:
            self.subscribe(group)
        except Exception as exc:
            pending.error = exc
            raise
        else:
            self._members[group] = {}
        finally:
            del self._subscribing[group]
            pending.done.set()

    def leave(self, group: str, websocket: WebSocket) -> None:
        members = self._members.get(group)
        if members is None:
            return
        members.pop(websocket, None)
        if not members:
            del self._members[group]
            self.unsubscribe(group)

    def local_members(self, group: str) -> list[WebSocket]:
        return list(self._members.get(group, ()))

    # -- delivery ------------------------------------------------------------

    def deliver_local(self, group: str, data: bytes, *, text: bool) -> int:
        """Send to this process's members of ``group``; return how many took it."""
        members = self._members.get(group)
        if not members:
            return 0
        # One serialization for every member without an extension (an
        # unmasked server frame, RFC 6455 5.1); members with compression
        # encode their own.
        frame = Frame(Opcode.TEXT if text else Opcode.BINARY, data).serialize(
            mask=False, extensions=[]
        )
        delivered = 0
        for websocket in list(members):  # a member may leave meanwhile
            try:
                if websocket.deliver(frame, data, text=text):
                    delivered += 1
            except Exception:
                # One member's fault must not cost the others the message
                # (nor kill the Redis listener that delivers it).
                logger.exception("error delivering a message of group %r to %r", group, websocket)
        counters.broadcast_deliveries += delivered
        return delivered

    # -- what subclasses provide ---------------------------------------------

    def broadcast(self, group: str, data: bytes, *, text: bool) -> None:
        raise NotImplementedError

    def subscribe(self, group: str) -> None:
        """This process has its first member of ``group``."""

    def unsubscribe(self, group: str) -> None:
        """This process has no member of ``group`` any more."""

    def close(self) -> None:
        """Release what the backend holds."""
