"""What ``send()`` makes of a message: its payload and frame type.

Group envelopes (``django_ws.groups.envelopes``) are text frames that begin
with ``{"group":``, and the JS client reads only those as envelopes. So that a
view relaying a user's text cannot forge one (a fake message, a presence, a
position that makes the client drop the real messages), no other text frame
the server sends begins so: :func:`plain_text` puts a space in front of one
that would. A JSON value parses the same with a leading space; a text that
is not JSON and begins with ``{"group":`` arrives with that space.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ENVELOPE_HEAD", "encode_message", "plain_text", "use_json_encoder"]

#: How every group envelope begins, and no other text frame does.
ENVELOPE_HEAD = b'{"group":'


def plain_text(data: Any) -> Any:
    """The payload of a text frame that is not an envelope: never begins as one."""
    if data[:9] == ENVELOPE_HEAD:
        return b" " + bytes(data)
    return data


#: The JSON encoder of dicts and lists: the standard one without Django;
#: django_ws.conf passes Django's in (dates, decimals, UUIDs, lazy strings).
_encoder: list[type[json.JSONEncoder]] = [json.JSONEncoder]


def use_json_encoder(encoder: type[json.JSONEncoder]) -> None:
    """Called by ``django_ws.conf``: the encoder of the dicts and lists sent."""
    _encoder[:] = [encoder]


def _json_encoder() -> type[json.JSONEncoder]:
    return _encoder[0]


def encode_message(message: Any, *, binary: bool = False) -> tuple[Any, bool]:
    """The payload and frame type for a message, as ``send()`` documents.

    Returns:
        ``(data, text)``: the bytes-like payload, and True for a text frame.

    Raises:
        TypeError: ``message`` is of no type that can be sent.
    """
    if isinstance(message, str):
        return message.encode(), not binary
    if isinstance(message, (bytes, bytearray)):
        return message, False
    if isinstance(message, memoryview):
        if message.itemsize != 1 or not message.c_contiguous:
            return message.tobytes(), False  # the frame length counts bytes, not items
        return message, False
    if isinstance(message, (dict, list)):
        return json.dumps(message, cls=_json_encoder()).encode(), not binary
    raise TypeError(
        f"cannot send {type(message).__name__!r}: expected str, bytes, "
        f"bytearray, memoryview, dict or list"
    )
