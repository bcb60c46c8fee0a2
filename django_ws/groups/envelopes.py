"""Envelope members: positions, the JSON envelopes, and recovery after ``since``.

A member joined with ``recover=True``, a ``since`` position or ``presence``
receives, for that group, JSON text frames instead of the raw messages::

    {"group": G, "recovered": true|false, "position": P}      first, at once
    {"group": G, "position": P, "data": <message>}           each message, in order
    {"group": G, "position": P, "bytes": "<base64>"}         a bytes message
    {"group": G, "presence": "join"|"leave", "info": {...}}  with presence
    {"group": G, "position": P, "data": <message>, "latest": true}
                                          after the first, with latest=True

Each begins with ``{"group":``, and no other text frame the server sends
does (``django_ws.encoding.plain_text``): the JS client reads only those as
envelopes, so a view relaying a user's text cannot forge one.

A position is ``"<epoch>-<offset>"``: the epoch names one life of the
group's stream (a new one when the stream was lost or expired), the offset
counts its messages from 1. Clients store positions and send them back; only
this module (and the JS client, to drop duplicates) looks inside.

Delivery to a member follows one rule, whatever the engine: a message is
written when its offset is the member's last one plus one (or 1 in a new
epoch); an older one is a duplicate and skipped; a later one is a gap, that
:func:`resync` fills from the history or reports with ``recovered: false``.
While a member's history is being read (its join, or a resync after a Redis
outage), live messages are buffered and merged by offset afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from websockets.frames import Frame, Opcode

from ..connection import counters

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket

__all__ = [
    "SINCE_PARAMETER",
    "EnvelopeMember",
    "decode_message",
    "envelope_frame",
    "format_position",
    "parse_position",
    "since_from_path",
]

logger = logging.getLogger(__name__)

#: The query-string parameter the JS client sends on reconnect: a JSON
#: object ``{group: last position}``, read by ``join(group, recover=True)``.
SINCE_PARAMETER = "django_ws_since"

#: Message kinds, as published: a str, a JSON value (dict/list), bytes.
STR, JSON, BYTES = "s", "j", "b"

Entry = tuple[int, bytes, str]  # offset, payload, kind


def format_position(epoch: str, offset: int) -> str:
    return f"{epoch}-{offset}"


#: The longest position a client may send: an epoch and an offset below 10**19
#: (Redis stream ids are 64-bit). Longer is malformed, never parsed.
MAX_POSITION_LENGTH = 128
_MAX_OFFSET_DIGITS = 19


def parse_position(position: str | None) -> tuple[str, int] | None:
    """``(epoch, offset)``, or None for None or a malformed position.

    The position comes from the client: only ASCII digits of an offset that
    Redis can hold (``"²".isdigit()`` is true, and ``int()`` of thousands
    of digits raises).
    """
    if not isinstance(position, str) or len(position) > MAX_POSITION_LENGTH:
        return None
    epoch, sep, offset = position.rpartition("-")
    if (not sep or not epoch or not offset.isascii() or not offset.isdigit()
            or len(offset) > _MAX_OFFSET_DIGITS):
        return None
    return epoch, int(offset)


def since_from_path(path: str, group: str) -> str | None:
    """The position the client sent for ``group`` in ``?django_ws_since=``."""
    _, _, query = path.partition("?")
    for value in urllib.parse.parse_qs(query).get(SINCE_PARAMETER, ()):
        try:
            positions = json.loads(value)
        except (ValueError, RecursionError):  # the client's text: "[[[[..." is deep
            continue
        if isinstance(positions, dict) and isinstance(positions.get(group), str):
            return str(positions[group])
    return None


def decode_message(data: bytes, kind: str) -> Any:
    """The Python value of a stored message, as ``history()`` returns it."""
    if kind == JSON:
        return json.loads(data)
    if kind == STR:
        return data.decode()
    return bytes(data)


def _frame(payload: bytes) -> bytes:
    # One serialization for every envelope member without an extension
    # (an unmasked server frame, RFC 6455 5.1), as deliver_local does.
    return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def envelope_payload(group: str, position: str | None, data: bytes, kind: str) -> bytes:
    head = b'{"group":' + json.dumps(group).encode() + b',"position":'
    head += json.dumps(position).encode()
    if kind == JSON:
        return head + b',"data":' + bytes(data) + b"}"
    if kind == STR:
        return head + b',"data":' + json.dumps(bytes(data).decode()).encode() + b"}"
    return head + b',"bytes":"' + base64.b64encode(data) + b'"}'


def latest_payload(group: str, position: str, data: bytes, kind: str) -> bytes:
    """A message envelope marked ``"latest": true``: sent on a ``join(latest=True)``."""
    payload = envelope_payload(group, position, data, kind)
    return payload[:-1] + b',"latest":true}'


def envelope_frame(group: str, position: str | None, data: bytes, kind: str) -> tuple[bytes, bytes]:
    """``(frame, payload)`` of a message envelope."""
    payload = envelope_payload(group, position, data, kind)
    return _frame(payload), payload


def state_payload(group: str, *, recovered: bool, position: str | None) -> bytes:
    return json.dumps(
        {"group": group, "recovered": recovered, "position": position}, separators=(",", ":")
    ).encode()


def presence_payload(group: str, event: str, info: dict[str, Any]) -> bytes:
    return json.dumps(
        {"group": group, "presence": event, "info": info}, separators=(",", ":")
    ).encode()


def is_announcement(payload: bytes, group: str) -> bool:
    """Whether ``payload`` is a presence envelope of ``group`` as presence_payload() makes."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return False
    return (type(value) is dict and value.keys() == {"group", "presence", "info"}
            and value["group"] == group and value["presence"] in ("join", "leave")
            and type(value["info"]) is dict)


def presence_info(websocket: WebSocket, presence: Any) -> dict[str, Any] | None:
    """What ``presence=`` lists: a dict as given; True: the request's user."""
    if presence is None or presence is False:
        return None
    if isinstance(presence, dict):
        return dict(presence)
    if presence is True:
        user = getattr(websocket, "user", None)
        try:
            if user is not None and user.is_authenticated:
                return {"id": user.pk, "username": str(user.get_username())}
        except Exception:  # a broken session must not break the join
            logger.exception("cannot read the user of %r for presence", websocket)
        return {"id": None, "username": ""}
    raise TypeError(f"presence must be None, True or a dict, not {presence!r}")


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
