"""A stand-in for a connection in a groups backend, and a broadcast as the API makes it."""

from __future__ import annotations

import json

from django_ws.groups import envelopes


class Member:
    """What a backend needs of a connection: deliver(), a path and a user."""

    def __init__(self, path="/room/"):
        self.path = path
        self.user = None
        self.frames = []

    def deliver(self, frame, data, *, text):
        self.frames.append((bytes(data), text))
        return True

    def envelopes(self):
        return [json.loads(data) for data, text in self.frames]


def publish(memory, group, message):
    from django_ws.encoding import encode_message

    data, text = encode_message(message)
    kind = (
        envelopes.STR
        if isinstance(message, str)
        else envelopes.JSON
        if isinstance(message, (dict, list))
        else envelopes.BYTES
    )
    return memory.broadcast(group, bytes(data), text=text, kind=kind)
