"""The default groups backend: in this process's memory.

Broadcasts reach the connections of the process they are made in: enough for
``runws`` and a single server process. Use the Redis backend for several.
"""

from __future__ import annotations

from .base import GroupBackend, validate_group

__all__ = ["MemoryBackend"]


class MemoryBackend(GroupBackend):
    def broadcast(self, group: str, data: bytes, *, text: bool) -> None:
        validate_group(group)
        self.deliver_local(group, data, text=text)
