"""The contract of a groups backend.

A backend keeps, for this process, which connections are in which group, and
carries broadcasts to the processes that have members:

- ``join(group, websocket)`` / ``leave(group, websocket)``: membership of a
  local connection. The first local member of a group calls
  ``subscribe()``, the last one leaving calls ``unsubscribe()``. A group
  counts as joined once ``subscribe()`` returned: members joining meanwhile
  wait for it, and when it raises they all get its error and nothing is
  recorded, so that the next member subscribes again.
- ``broadcast(group, data, text=...)``: callable from any sync code, with or
  without gevent, in any process; must reach every member of every process
  once, in the order one sender broadcast.
- ``deliver_local(group, data, text=...)``: hand a message to this process's
  members; what a backend calls when a broadcast reaches it.
- ``close()``: release connections and greenlets.

History, recovery and presence (the envelope members of
``django_ws.groups.envelopes``; options in ``django_ws.groups.streams``):

- ``broadcast()`` returns the message's position, or None when the group
  keeps no history; ``kind`` says what the message was (str, JSON, bytes),
  for envelopes and ``history()``.
- ``read_history(group, since)``: ``(epoch, top, entries)`` as
  ``django_ws.groups.recovery.recover()`` documents; may block.
- ``deliver_envelopes(group, epoch, entry)``: hand a message with its
  position to this process's envelope members.
- ``presence_add()``, ``presence_remove()``, ``presence()``, ``announce()``:
  members listed across processes, and their join/leave envelopes.

Group names are non-empty strings of at most 200 characters.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..encoding import plain_text
from . import envelopes, recovery
from .disconnect import Order, close_matching
from .envelopes import Entry
from .hub import Hub
from .recovery import EnvelopeMember
from .streams import HistoryOptions
from .user_slots import LocalUserSlots

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
    """Base class: membership, with this process's members in its ``hub``;
    subclasses carry broadcasts, keep history and presence."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        self.alias = alias
        self.options = options
        #: This process's members, and delivering to them (hub.py).
        self.hub = Hub()
        self._subscribing: dict[str, _Subscribing] = {}
        self.history_options = HistoryOptions.from_options(alias, options)
        #: The users' connection counts (WEBSOCKET_MAX_CONNECTIONS_PER_USER):
        #: this process's here; a backend that reaches others shares them.
        self.user_slots: Any = LocalUserSlots()

    # -- membership (this process) ---------------------------------------------

    def join(
        self,
        group: str,
        websocket: WebSocket,
        *,
        recover: bool = False,
        since: str | None = None,
        presence: Any = None,
        latest: bool = False,
    ) -> bool | None:
        """Make ``websocket`` a member; an envelope member with any keyword but ``latest``.

        ``latest``: then send the newest message of the history (see
        ``WebSocket.join``).

        Returns:
            None for a plain member; for an envelope member, whether what it
            missed after ``since`` was recovered (the ``recovered`` it got).
        """
        validate_group(group)
        envelope = recover or since is not None or presence is not None
        info = envelopes.presence_info(websocket, presence) if envelope else None
        while (members := self.hub.members.get(group)) is None:
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
        if not envelope:
            members[websocket] = None
            if latest:
                self._send_latest(group, websocket)
            return None
        if since is None and recover:
            since = envelopes.since_from_path(getattr(websocket, "path", ""), group)
        return self._join_envelope(group, websocket, since, info, latest)

    def _send_latest(self, group: str, websocket: WebSocket) -> None:
        # A plain member: the newest message as broadcast (a text frame for a
        # str or JSON). Read after the subscription, so none is missed; a
        # live message published meanwhile may come before it (plain members
        # have no positions: an envelope member gets them in order).
        _, _, entries = self.read_history(group, None, create=False)
        if entries:
            _, data, kind = entries[-1]
            text = kind != envelopes.BYTES
            websocket.deliver(None, plain_text(data) if text else data, text=text)

    def _join_envelope(
        self, group: str, websocket: WebSocket, since: str | None, info: dict[str, Any] | None,
        latest: bool = False,
    ) -> bool:
        # Recorded (buffering live messages) before the history is read, so
        # that nothing published meanwhile is missed, and so that the group
        # stays subscribed while the read blocks.
        member = EnvelopeMember(websocket, info)
        group_envelopes = self.hub.envelopes.setdefault(group, {})
        previous = group_envelopes.pop(websocket, None)
        group_envelopes[websocket] = member
        try:
            if previous is not None and previous.info is not None:
                self.presence_remove(group, previous.id)
            recovered = recovery.recover(
                member, group, since, lambda s: self.read_history(group, s), first=True,
                latest=latest,
            )
            if info is not None:
                record = {"connection": member.id, "info": info, "joined": time.time()}
                self.presence_add(group, record)
                self.announce(group, envelopes.presence_payload(group, "join", info))
        except BaseException:
            self._drop_envelope(group, websocket)
            raise
        return recovered

    def _drop_envelope(self, group: str, websocket: WebSocket) -> EnvelopeMember | None:
        hub = self.hub
        group_envelopes = hub.envelopes.get(group)
        if group_envelopes is None:
            return None
        member = group_envelopes.pop(websocket, None)
        if not group_envelopes:
            del hub.envelopes[group]
            if not hub.members.get(group) and group in hub.members:
                del hub.members[group]
                self.unsubscribe(group)
        return member

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
            self.hub.members[group] = {}
        finally:
            del self._subscribing[group]
            pending.done.set()

    def leave(self, group: str, websocket: WebSocket) -> None:
        members = self.hub.members.get(group)
        if members is None:
            return
        members.pop(websocket, None)
        if group in self.hub.envelopes:
            member = self._drop_envelope(group, websocket)
            if member is not None and member.info is not None:
                self.presence_remove(group, member.id)
                self.announce(group, envelopes.presence_payload(group, "leave", member.info))
            return
        if not members:
            del self.hub.members[group]
            self.unsubscribe(group)

    def local_members(self, group: str) -> list[WebSocket]:
        return self.hub.local_members(group)

    # -- delivery ------------------------------------------------------------

    def deliver_local(self, group: str, data: bytes, *, text: bool) -> int:
        """Send to this process's members of ``group``; return how many took it."""
        return self.hub.deliver(group, data, text=text)

    def deliver_envelopes(self, group: str, epoch: str | None, entry: Entry) -> int:
        """Send a message with its position to this process's envelope members."""
        return self.hub.deliver_envelopes(group, epoch, entry, self.resync)

    def resync(self, group: str, member: EnvelopeMember) -> None:
        """``member`` saw a gap (its live messages are buffered): fill it."""
        if self.hub.envelopes.get(group, {}).get(member.websocket) is not member:
            return  # it left meanwhile
        since = (
            None if member.epoch is None else envelopes.format_position(member.epoch, member.offset)
        )
        recovery.recover(member, group, since, lambda s: self.read_history(group, s), first=False)

    # -- disconnecting (django_ws.groups.disconnect) ---------------------------

    def disconnect(self, order: Order) -> None:
        """Close the connections ``order`` names in every process this backend
        reaches: here, this one."""
        self.disconnect_local(order)

    def disconnect_local(self, order: Order) -> None:
        """Start closing this process's connections that ``order`` names."""
        if order.group is not None:
            candidates = self.local_members(order.group)
        else:
            # A user's connections, in groups or not: the process's registry.
            from ..connection.registry import open_connections

            candidates = list(open_connections)
        close_matching(candidates, order)

    def listen_for_orders(self) -> None:
        """In a server process: receive the orders other processes publish
        (a backend that reaches only this process has nothing to listen to)."""

    def deliver_announcement(self, group: str, payload: bytes) -> None:
        """A presence envelope to this process's envelope members."""
        self.hub.deliver_announcement(group, payload)

    def history(
        self, group: str, since: str | None = None, limit: int | None = None
    ) -> list[tuple[str, Any]]:
        """The kept messages after ``since`` (all if it is None or of another epoch)."""
        validate_group(group)
        epoch, _, entries = self.read_history(group, None, create=False)
        if epoch is None or not entries:
            return []
        wanted = envelopes.parse_position(since)
        if wanted is not None and wanted[0] == epoch:
            entries = [entry for entry in entries if entry[0] > wanted[1]]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [
            (envelopes.format_position(epoch, offset), envelopes.decode_message(data, kind))
            for offset, data, kind in entries
        ]

    def local_presence(self, group: str) -> list[dict[str, Any]]:
        """This process's members of ``group`` listed in presence."""
        return self.hub.local_presence(group)

    # -- what subclasses provide ---------------------------------------------

    def broadcast(
        self, group: str, data: bytes, *, text: bool, kind: str = envelopes.BYTES
    ) -> str | None:
        raise NotImplementedError

    def read_history(
        self, group: str, since: str | None, *, create: bool = True
    ) -> tuple[str | None, int, list[Entry] | None]:
        """``(epoch, top, entries after since)``: no history here.

        ``create``: give a group without a stream one (a join needs its
        position); ``history()`` reads without.
        """
        return None, 0, None

    def presence_add(self, group: str, record: dict[str, Any]) -> None:
        self.hub.records[record["connection"]] = record

    def presence_remove(self, group: str, member_id: str) -> None:
        self.hub.records.pop(member_id, None)

    def presence(self, group: str) -> list[dict[str, Any]]:
        """Every member of ``group`` listed in presence (here: this process)."""
        validate_group(group)
        return self.local_presence(group)

    def announce(self, group: str, payload: bytes) -> None:
        """Send a presence envelope to the group's envelope members, everywhere."""
        self.deliver_announcement(group, payload)

    def subscribe(self, group: str) -> None:
        """This process has its first member of ``group``."""

    def unsubscribe(self, group: str) -> None:
        """This process has no member of ``group`` any more."""

    def close(self) -> None:
        """Release what the backend holds."""
