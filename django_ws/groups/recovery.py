"""Envelope members: each one's place in its group's stream, and recovery after ``since``.

Delivery to a member follows one rule, whatever the engine: a message is
written when its offset is the member's last one plus one (or 1 in a new
epoch); an older one is a duplicate and skipped; a later one is a gap, that
:func:`resync` fills from the history or reports with ``recovered: false``.
While a member's history is being read (its join, or a resync after a Redis
outage), live messages are buffered and merged by offset afterwards.

The frames they get are :mod:`django_ws.groups.envelopes`'s.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..connection import counters
from .envelopes import (
    Entry,
    envelope_frame,
    format_position,
    latest_payload,
    parse_position,
    state_payload,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket

__all__ = ["EnvelopeMember", "deliver", "drain", "recover"]

# The name the recovery logged under before it had a module of its own.
logger = logging.getLogger("django_ws.groups.envelopes")


class EnvelopeMember:
    """One envelope member's state in one group."""

    __slots__ = ("_id", "buffer", "epoch", "info", "offset", "websocket")

    def __init__(self, websocket: WebSocket, info: dict[str, Any] | None) -> None:
        self.websocket = websocket
        self._id: str | None = None  # made when presence needs it
        self.info = info
        self.epoch: str | None = None
        self.offset = 0
        #: Live messages held while the history is read; None when not reading.
        self.buffer: list[tuple[str | None, Entry]] | None = []

    @property
    def id(self) -> str:
        """The member's id in presence records: made when first asked for,
        so that a member without presence pays for no UUID."""
        if self._id is None:
            self._id = uuid.uuid4().hex
        return self._id

    def send(self, payload: bytes, frame: bytes | None = None) -> None:
        self.websocket.deliver(frame, payload, text=True)

    def take(
        self, group: str, epoch: str | None, entry: Entry, frame: tuple[bytes, bytes] | None = None
    ) -> str:
        """Deliver a message if it is the next one; "ok", "dup" or "gap"."""
        offset, data, kind = entry
        if epoch is not None:
            if epoch == self.epoch:
                if offset <= self.offset:
                    return "dup"
                if offset != self.offset + 1:
                    return "gap"
            elif offset != 1:
                return "gap"
            self.epoch, self.offset = epoch, offset
        if frame is None:
            frame = envelope_frame(
                group, None if epoch is None else format_position(epoch, offset), data, kind
            )
        self.websocket.deliver(frame[0], frame[1], text=True)
        return "ok"


def recover(
    member: EnvelopeMember,
    group: str,
    since: str | None,
    read: Callable[[str | None], tuple[str | None, int, list[Entry] | None]],
    *,
    first: bool,
    latest: bool = False,
) -> bool:
    """Bring ``member`` up to date from the history, then the buffered live messages.

    ``read(since)`` returns ``(epoch, top, entries)``: the stream's epoch and
    latest offset, and the kept messages after ``since``, or None when they
    cannot all be given (another epoch, the window exceeded). It may block
    (Redis); live messages arriving meanwhile wait in ``member.buffer``. What
    follows the read runs without switching greenlets (``deliver()`` never
    blocks), so no live message can slip in between.

    ``first``: the join's first envelope, always sent; a resync sends one
    only when it could not recover (``recovered: false``).

    ``latest``: after the first envelope, the newest kept message, marked
    ``"latest": true``, unless recovered (the client has it, or the replay
    that follows brings it).

    Returns:
        Whether everything after ``since`` was delivered.
    """
    wanted = parse_position(since)
    if since is not None and wanted is None and first:
        # The client's: told recovered: false, as for a position too old.
        logger.info("ignoring a malformed recovery position %.80r for group %r", since, group)
    epoch, top, entries = read(since)
    recovered = (
        wanted is not None
        and epoch is not None
        and entries is not None
        and wanted[0] == epoch
        and wanted[1] <= top
    )
    if since is not None or not first:
        # django_ws_recoveries_total: a join that gave a position and every
        # resync count; a join without one (recover=True for a fresh client,
        # presence only) has nothing to recover, and its "false" would bury
        # the real losses under every first page load. After read(): a read
        # that raised (Redis down; the resync retries) had no outcome.
        counters.recoveries[recovered] += 1
    if recovered:
        assert wanted is not None  # for mypy: recovered implies it
        member.epoch, member.offset = wanted
    else:
        member.epoch, member.offset = epoch, top
    if first or not recovered:
        position = None if epoch is None else format_position(epoch, top)
        if not first:
            logger.warning(
                "group %r: messages lost for %r (the history no longer has them)",
                group,
                member.websocket,
            )
        member.send(state_payload(group, recovered=recovered, position=position))
    if latest and not recovered:  # recovered: the client has the latest, or gets it now
        newest = entries if since is None else read(None)[2]
        if newest and epoch is not None:
            offset, data, kind = newest[-1]
            member.send(latest_payload(group, format_position(epoch, offset), data, kind))
    if recovered:
        for entry in entries or ():
            member.take(group, epoch, entry)
    drain(member, group)
    return recovered


def drain(member: EnvelopeMember, group: str) -> None:
    """Deliver the buffered live messages, merged by offset; stop buffering."""
    buffered, member.buffer = member.buffer or [], None
    for epoch, entry in buffered:
        if member.take(group, epoch, entry) == "gap":
            # Only a lost pub/sub message makes a gap here (the read came
            # after the subscription): say so, and go on from this message.
            member.send(
                state_payload(
                    group, recovered=False, position=format_position(str(epoch), entry[0] - 1)
                )
            )
            member.epoch, member.offset = epoch, entry[0] - 1
            member.take(group, epoch, entry)


def deliver(
    members: Iterable[EnvelopeMember],
    group: str,
    epoch: str | None,
    entry: Entry,
    on_gap: Callable[[str, EnvelopeMember], None],
) -> int:
    """A live message to a group's envelope members: one serialization for all."""
    offset, data, kind = entry
    frame, payload = envelope_frame(
        group, None if epoch is None else format_position(epoch, offset), data, kind
    )
    previous = offset - 1
    delivered = 0
    for member in list(members):
        try:
            # The common case first: the member is in step, this is its next one.
            if member.epoch == epoch and member.offset == previous and member.buffer is None:
                member.offset = offset
                member.websocket.deliver(frame, payload, text=True)
                delivered += 1
                continue
            if member.buffer is not None:
                member.buffer.append((epoch, entry))
                continue
            outcome = member.take(group, epoch, entry, (frame, payload))
        except Exception:
            logger.exception(
                "error delivering a message of group %r to %r", group, member.websocket
            )
            continue
        if outcome == "ok":
            delivered += 1
        elif outcome == "gap":
            member.buffer = [(epoch, entry)]
            on_gap(group, member)
    return delivered
