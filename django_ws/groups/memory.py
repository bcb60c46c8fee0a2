"""The default groups backend: in this process's memory.

Broadcasts reach the connections of the process they are made in: enough for
``runws`` and a single server process. Use the Redis backend for several.
History, recovery and presence have the Redis backend's semantics, within
this process (``django_ws.groups.streams.MemoryHistory``).
"""

from __future__ import annotations

from typing import Any

from . import envelopes
from .base import GroupBackend, validate_group
from .envelopes import Entry
from .streams import MemoryHistory

__all__ = ["MemoryBackend"]


class MemoryBackend(GroupBackend):
    """Options: ``history_size`` (100), ``history_ttl`` (120 s), ``presence_ttl``
    (30 s; unused here: a process's members leave with it)."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self._history = MemoryHistory(self.history_options)

    def broadcast(
        self, group: str, data: bytes, *, text: bool, kind: str = envelopes.BYTES
    ) -> str | None:
        validate_group(group)
        position = self._history.append(group, data, kind)
        self.deliver_local(group, data, text=text)
        if group in self.hub.envelopes:
            epoch, offset = position if position is not None else (None, 0)
            self.deliver_envelopes(group, epoch, (offset, data, kind))
        return None if position is None else envelopes.format_position(*position)

    def read_history(
        self, group: str, since: str | None, *, create: bool = True
    ) -> tuple[str | None, int, list[Entry] | None]:
        return self._history.read(group, since, create=create)
