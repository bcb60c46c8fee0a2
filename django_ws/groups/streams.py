"""Per-group history: the options every backend reads, and the in-memory store.

A group's stream is created by its first publish (or an envelope member's
join) with a new epoch, and forgotten ``history_ttl`` seconds after its last
publish: a group nobody publishes to costs nothing. It keeps the last
``history_size`` messages younger than ``history_ttl``.
"""

from __future__ import annotations

import fnmatch
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .envelopes import Entry, parse_position

__all__ = ["HistoryOptions", "MemoryHistory", "new_epoch", "select"]

DEFAULT_HISTORY_SIZE = 100
DEFAULT_HISTORY_TTL = 120.0
DEFAULT_PRESENCE_TTL = 30.0


def new_epoch() -> str:
    return secrets.token_hex(4)


@dataclass(frozen=True)
class HistoryOptions:
    """``history_size``, ``history_ttl``, ``presence_ttl`` of a backend's OPTIONS.

    ``history`` maps group name patterns (``fnmatch``, first match wins) to
    overrides of ``history_size``/``history_ttl``:
    ``{"history": {"chat.*": {"history_size": 500}}}``.
    """

    size: int = DEFAULT_HISTORY_SIZE
    ttl: float = DEFAULT_HISTORY_TTL
    presence_ttl: float = DEFAULT_PRESENCE_TTL
    patterns: tuple[tuple[str, int, float], ...] = ()

    @classmethod
    def from_options(cls, alias: str, options: dict[str, Any]) -> HistoryOptions:
        def number(mapping: dict[str, Any], key: str, default: float, kind: type) -> Any:
            value = mapping.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ImproperlyConfigured(
                    f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS'][{key!r}] is {value!r}: "
                    f"expected a number >= 0"
                )
            return kind(value)

        size = number(options, "history_size", DEFAULT_HISTORY_SIZE, int)
        ttl = number(options, "history_ttl", DEFAULT_HISTORY_TTL, float)
        presence_ttl = number(options, "presence_ttl", DEFAULT_PRESENCE_TTL, float)
        patterns = []
        overrides = options.get("history", {})
        if not isinstance(overrides, dict):
            raise ImproperlyConfigured(
                f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS']['history'] is {overrides!r}: "
                f"expected a dict of group name patterns to option dicts"
            )
        for pattern, override in overrides.items():
            patterns.append(
                (
                    pattern,
                    number(override, "history_size", size, int),
                    number(override, "history_ttl", ttl, float),
                )
            )
        return cls(size, ttl, presence_ttl, tuple(patterns))

    def for_group(self, group: str) -> tuple[int, float]:
        """``(history_size, history_ttl)`` of ``group``."""
        for pattern, size, ttl in self.patterns:
            if fnmatch.fnmatchcase(group, pattern):
                return size, ttl
        return self.size, self.ttl


class _Stream:
    __slots__ = ("entries", "epoch", "expires", "top", "ttl")

    def __init__(self, size: int, ttl: float) -> None:
        self.epoch = new_epoch()
        self.top = 0
        self.entries: deque[tuple[int, float, bytes, str]] = deque(maxlen=size)
        self.ttl = ttl
        self.expires = 0.0


class MemoryHistory:
    """The streams of one process's groups."""

    def __init__(self, options: HistoryOptions, clock: Any = time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self._streams: dict[str, _Stream] = {}
        self._sweep_at = 0.0

    def _stream(self, group: str, *, create: bool) -> _Stream | None:
        now = self.clock()
        stream = self._streams.get(group)
        if stream is not None and stream.expires <= now:
            del self._streams[group]
            stream = None
        if stream is None and create:
            size, ttl = self.options.for_group(group)
            stream = self._streams[group] = _Stream(size, ttl)
            stream.expires = now + ttl
        return stream

    def append(self, group: str, data: bytes, kind: str) -> tuple[str, int] | None:
        """Add a message; its ``(epoch, offset)``, None when the group keeps none."""
        now = self.clock()
        stream = self._streams.get(group)
        if stream is None or stream.expires <= now or now >= self._sweep_at:
            size, ttl = self.options.for_group(group)
            if size == 0:
                return None
            if now >= self._sweep_at:
                # Forget the streams nobody published to for history_ttl.
                self._sweep_at = now + min(ttl, 60.0)
                for name in [n for n, s in self._streams.items() if s.expires <= now]:
                    del self._streams[name]
            stream = self._stream(group, create=True)
            assert stream is not None  # create=True
        stream.top += 1
        stream.entries.append((stream.top, now, data, kind))
        stream.expires = now + stream.ttl
        return stream.epoch, stream.top

    def read(
        self, group: str, since: str | None, limit: int | None = None, *, create: bool = True
    ) -> tuple[str | None, int, list[Entry] | None]:
        """``(epoch, top, entries after since)``; entries None if some are gone.

        Without ``since``: every kept entry. A group without a stream gets
        one (with nothing in it), so that its position exists; not with
        ``create=False``.
        """
        size, ttl = self.options.for_group(group)
        if size == 0:
            return None, 0, None
        stream = self._stream(group, create=create)
        if stream is None:
            return None, 0, None
        oldest = self.clock() - ttl
        kept = [(o, d, k) for o, t, d, k in stream.entries if t > oldest]
        return select(stream.epoch, stream.top, kept, since, limit)


def select(
    epoch: str, top: int, kept: list[Entry], since: str | None, limit: int | None = None
) -> tuple[str | None, int, list[Entry] | None]:
    """What a read returns, from a stream's kept entries (oldest first).

    Entries after ``since``, or None when they cannot all be given: ``since``
    is of another epoch, from the future, or older than the oldest kept.
    """
    wanted = parse_position(since)
    if wanted is None:
        return epoch, top, kept[-limit:] if limit else kept
    since_epoch, offset = wanted
    if since_epoch != epoch or offset > top:
        return epoch, top, None
    after = [entry for entry in kept if entry[0] > offset]
    first = after[0][0] if after else top + 1
    if first != offset + 1:
        return epoch, top, None  # the window was exceeded
    return epoch, top, after[-limit:] if limit else after
