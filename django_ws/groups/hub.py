"""The hub: this process's members of each group, and delivering to them.

Every backend has one (``GroupBackend.hub``): what a broadcast does once it
reached this process is the same whatever carried it. The broker (how a
broadcast reaches the processes, and the history it keeps) and presence
(who is listed, across processes) are the backend's, memory or Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.frames import Frame, Opcode

from ..connection import counters
from ..encoding import plain_text
from . import recovery
from .envelopes import Entry
from .recovery import EnvelopeMember

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket

__all__ = ["Hub"]

logger = logging.getLogger("django_ws.groups.base")  # its name before the split


class Hub:
    """Local members: plain ones (raw frames) and envelope members (positions,
    recovery, presence), and this process's presence records."""

    __slots__ = ("envelopes", "members", "records")

    def __init__(self) -> None:
        #: Plain members, by group; a group is here once subscribed, and
        #: while it has a member of either kind.
        self.members: dict[str, dict[WebSocket, None]] = {}
        #: Envelope members, by group.
        self.envelopes: dict[str, dict[WebSocket, EnvelopeMember]] = {}
        #: The presence records of this process's members, by connection id.
        self.records: dict[str, dict[str, Any]] = {}

    def local_members(self, group: str) -> list[WebSocket]:
        members = list(self.members.get(group, ()))
        group_envelopes = self.envelopes.get(group)
        if group_envelopes:
            members.extend(group_envelopes)
        return members

    def groups(self) -> list[str]:
        """The groups with members here."""
        return sorted(self.members)

    def deliver(self, group: str, data: bytes, *, text: bool) -> int:
        """Send to this process's plain members of ``group``; return how many took it."""
        members = self.members.get(group)
        if not members:
            return 0
        # One serialization for every member without an extension (an
        # unmasked server frame, RFC 6455 5.1); members with compression
        # encode their own.
        if text:
            data = plain_text(data)  # a raw member's frame is never read as an envelope
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

    def deliver_envelopes(self, group: str, epoch: str | None, entry: Entry,
                          resync: Callable[[str, EnvelopeMember], None]) -> int:
        """Send a message with its position to this process's envelope members."""
        group_envelopes = self.envelopes.get(group)
        if not group_envelopes:
            return 0
        return recovery.deliver(group_envelopes.values(), group, epoch, entry, resync)

    def deliver_announcement(self, group: str, payload: bytes) -> None:
        """A presence envelope to this process's envelope members."""
        group_envelopes = self.envelopes.get(group)
        if not group_envelopes:
            return
        frame = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
        for member in list(group_envelopes.values()):
            try:
                member.send(payload, frame)
            except Exception:
                logger.exception(
                    "error delivering presence of group %r to %r", group, member.websocket
                )

    def local_presence(self, group: str) -> list[dict[str, Any]]:
        """This process's members of ``group`` listed in presence."""
        group_envelopes = self.envelopes.get(group, {})
        return [self.records[m.id] for m in group_envelopes.values()
                if m.info is not None and m.id in self.records]
