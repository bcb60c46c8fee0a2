"""The envelopes' wire format: positions, and the JSON text frames of envelope members.

How a member is kept in order, and recovers after ``since``, is
:mod:`django_ws.groups.recovery`.

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
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

from websockets.frames import Frame, Opcode

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import WebSocket

__all__ = [
    "SINCE_PARAMETER",
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
