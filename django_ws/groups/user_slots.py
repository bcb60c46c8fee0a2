"""Counting a user's connections across processes (``WEBSOCKET_MAX_CONNECTIONS_PER_USER``).

Each counted connection holds a *slot* in its user's count for a *scope*
(``"*"`` for the setting, a view's name for a view's own cap). A slot is
``"<opened, Unix ms, 13 digits>:<the connection's id>"``, so that sorting a
count's slots orders them oldest first (the "newest tab wins" policy closes
the oldest).

:class:`LocalUserSlots` keeps this process's slots: the whole count for the
memory backend, and what the Redis backend refreshes (``redis_slots.py``),
whose counts expire with the process that stops refreshing them.
"""

from __future__ import annotations

import time

__all__ = ["REPLACED", "LocalUserSlots", "make_slot", "slot_connection"]

#: The close code of a connection replaced by its user's newer one (the
#: ``"close_oldest"`` policy): 4000 + HTTP's 429, in the private range
#: that the JS client does not reconnect after (tabs would take turns).
REPLACED = 4429


def make_slot(connection_id: str, opened: float | None = None) -> str:
    """The slot of a connection opened at ``opened`` (now by default)."""
    return f"{int((time.time() if opened is None else opened) * 1000):013d}:{connection_id}"


def slot_connection(slot: str) -> str:
    """The connection id a slot names."""
    return slot.partition(":")[2]


class LocalUserSlots:
    """This process's slots, by (scope, user), oldest first.

    As a backend's count (memory): ``claim()`` and ``release()``; as the
    record of what a shared count must keep alive (Redis): ``add()``,
    ``release()`` and ``snapshot()``.
    """

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], dict[str, None]] = {}

    def __bool__(self) -> bool:
        return bool(self._slots)

    def claim(self, scope: str, user: str, slot: str, limit: int,
              replace: bool) -> tuple[bool, list[str]]:
        """Take a slot if the user has fewer than ``limit``.

        Returns:
            ``(taken, replaced)``: whether the slot was taken, and the slots
            taken from the user to make room (``replace``: the oldest).
        """
        slots = self._slots.get((scope, user), {})
        replaced: list[str] = []
        if len(slots) >= limit:
            if not replace:
                return False, []
            replaced = sorted(slots)[:len(slots) - limit + 1]
            for old in replaced:
                del slots[old]
        self.add(scope, user, slot)
        return True, replaced

    def add(self, scope: str, user: str, slot: str) -> None:
        self._slots.setdefault((scope, user), {})[slot] = None

    def release(self, scope: str, user: str, slot: str) -> None:
        slots = self._slots.get((scope, user))
        if slots is not None:
            slots.pop(slot, None)
            if not slots:
                del self._slots[scope, user]

    def holds(self, scope: str, user: str, slot: str) -> bool:
        return slot in self._slots.get((scope, user), ())

    def snapshot(self) -> list[tuple[str, str, list[str]]]:
        """``[(scope, user, slots)]``: what to refresh."""
        return [(scope, user, list(slots)) for (scope, user), slots in self._slots.items()]
