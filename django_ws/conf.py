"""Settings: one typed property per ``WEBSOCKET_*`` setting.

The defaults live in :mod:`django_ws.options`, and only there. Values are read once and cached: a
missing setting costs Django's lazy settings an exception on every look-up,
and every connection looks up several. ``override_settings`` clears the
cache (Django's ``setting_changed`` signal). Values are validated by
:mod:`django_ws.checks` (``manage.py check``), not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed

from . import encoding
from .connection import redaction
from .options import DEFAULTS, OPTION_NAMES, ConnectionOptions, MiB

__all__ = ["DEFAULTS", "OPTION_NAMES", "ConnectionOptions", "MiB", "Settings", "settings"]

class Settings:
    """The ``WEBSOCKET_*`` settings, with their defaults."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        try:
            return self._cache[name]
        except KeyError:
            value = self._cache[name] = getattr(django_settings, name, DEFAULTS[name])
            return value

    def clear(self) -> None:
        self._cache.clear()

    @property
    def ACCEPT_ALL(self) -> bool:
        """Let undecorated views accept WebSocket requests (dwebsocket's setting)."""
        return bool(self._get("WEBSOCKET_ACCEPT_ALL"))

    @property
    def ALLOWED_ORIGINS(self) -> list[str]:
        """Origins allowed besides the request's own host; ``"*"`` allows all."""
        return list(self._get("WEBSOCKET_ALLOWED_ORIGINS"))

    @property
    def MAX_MESSAGE_SIZE(self) -> int | None:
        return self._get("WEBSOCKET_MAX_MESSAGE_SIZE")  # type: ignore[no-any-return]

    @property
    def MAX_QUEUE(self) -> int:
        return self._get("WEBSOCKET_MAX_QUEUE")  # type: ignore[no-any-return]

    @property
    def MAX_QUEUE_BYTES(self) -> int | None:
        return self._get("WEBSOCKET_MAX_QUEUE_BYTES")  # type: ignore[no-any-return]

    @property
    def PING_INTERVAL(self) -> float | None:
        return self._get("WEBSOCKET_PING_INTERVAL")  # type: ignore[no-any-return]

    @property
    def PING_TIMEOUT(self) -> float | None:
        return self._get("WEBSOCKET_PING_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def SEND_TIMEOUT(self) -> float | None:
        return self._get("WEBSOCKET_SEND_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def MAX_SEND_BUFFER(self) -> int | None:
        return self._get("WEBSOCKET_MAX_SEND_BUFFER")  # type: ignore[no-any-return]

    @property
    def CLOSE_TIMEOUT(self) -> float | None:
        return self._get("WEBSOCKET_CLOSE_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def MAX_FRAGMENTS(self) -> int | None:
        return self._get("WEBSOCKET_MAX_FRAGMENTS")  # type: ignore[no-any-return]

    @property
    def MAX_CONTROL_FRAMES(self) -> int | None:
        return self._get("WEBSOCKET_MAX_CONTROL_FRAMES")  # type: ignore[no-any-return]

    @property
    def MESSAGE_RATE(self) -> float | None:
        return self._get("WEBSOCKET_MESSAGE_RATE")  # type: ignore[no-any-return]

    @property
    def MESSAGE_BURST(self) -> int | None:
        return self._get("WEBSOCKET_MESSAGE_BURST")  # type: ignore[no-any-return]

    @property
    def RATE_LIMIT_CLOSE(self) -> bool:
        return self._get("WEBSOCKET_RATE_LIMIT_CLOSE") is True

    @property
    def HANDSHAKE_TIMEOUT(self) -> float | None:
        return self._get("WEBSOCKET_HANDSHAKE_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def THREADED(self) -> bool:
        return bool(self._get("WEBSOCKET_THREADED"))

    @property
    def CLOSE_ON_LOGOUT(self) -> bool:
        return bool(self._get("WEBSOCKET_CLOSE_ON_LOGOUT"))

    @property
    def THREADS(self) -> int:
        return self._get("WEBSOCKET_THREADS")  # type: ignore[no-any-return]

    @property
    def LOOP_BLOCKED_THRESHOLD(self) -> float | None:
        return self._get("WEBSOCKET_LOOP_BLOCKED_THRESHOLD")  # type: ignore[no-any-return]

    @property
    def MAX_REQUEST_HEAD(self) -> int | None:
        return self._get("WEBSOCKET_MAX_REQUEST_HEAD")  # type: ignore[no-any-return]

    @property
    def MAX_CONNECTIONS(self) -> int | None:
        return self._get("WEBSOCKET_MAX_CONNECTIONS")  # type: ignore[no-any-return]

    @property
    def MAX_CONNECTIONS_PER_USER(self) -> int | None:
        return self._get("WEBSOCKET_MAX_CONNECTIONS_PER_USER")  # type: ignore[no-any-return]

    @property
    def MAX_CONNECTIONS_PER_USER_POLICY(self) -> str:
        """``"refuse"`` (429) or ``"close_oldest"`` (the newest tab wins)."""
        return self._get("WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY")  # type: ignore[no-any-return]

    @property
    def RETRY_AFTER(self) -> int:
        return int(self._get("WEBSOCKET_RETRY_AFTER"))

    @property
    def TUNE_MALLOC(self) -> bool:
        """Let the server entry points set glibc malloc's thresholds."""
        return self._get("WEBSOCKET_TUNE_MALLOC") is True

    @property
    def REDACT_QUERY_PARAMS(self) -> frozenset[str]:
        """Lower-case names of the query parameters whose values are redacted in logs."""
        try:
            return self._cache["redact"]  # type: ignore[no-any-return]
        except KeyError:
            names = self._cache["redact"] = frozenset(
                name.lower() for name in self._get("WEBSOCKET_REDACT_QUERY_PARAMS") or ())
            return names

    @property
    def METRICS_TOKEN(self) -> str | None:
        """The bearer token of the metrics view; None: staff only."""
        return self._get("WEBSOCKET_METRICS_TOKEN")  # type: ignore[no-any-return]

    @property
    def METRICS_INTERVAL(self) -> float:
        return float(self._get("WEBSOCKET_METRICS_INTERVAL"))

    @property
    def COMPRESSION(self) -> Mapping[str, Any] | None:
        return self._get("WEBSOCKET_COMPRESSION")  # type: ignore[no-any-return]

    def connection_options(self) -> ConnectionOptions:
        """The options every connection starts with, from the settings.

        One shared instance: it is frozen, and a view's overrides make a copy.
        """
        try:
            return self._cache["options"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        options = self._cache["options"] = ConnectionOptions(
            max_message_size=self.MAX_MESSAGE_SIZE,
            max_queue=self.MAX_QUEUE,
            max_queue_bytes=self.MAX_QUEUE_BYTES,
            ping_interval=self.PING_INTERVAL,
            ping_timeout=self.PING_TIMEOUT,
            send_timeout=self.SEND_TIMEOUT,
            max_send_buffer=self.MAX_SEND_BUFFER,
            close_timeout=self.CLOSE_TIMEOUT,
            message_rate=self.MESSAGE_RATE,
            message_burst=self.MESSAGE_BURST,
            rate_limit_close=self.RATE_LIMIT_CLOSE,
            max_fragments=self.MAX_FRAGMENTS,
            max_control_frames=self.MAX_CONTROL_FRAMES,
            compression=self.COMPRESSION,
        )
        return options


settings = Settings()


def _setting_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith("WEBSOCKET_"):
        settings.clear()


setting_changed.connect(_setting_changed, dispatch_uid="django_ws.conf")
# The connection core imports no Django: it redacts with the setting's
# names, and sends dicts and lists with Django's JSON encoder, given here.
redaction.use_names(lambda: settings.REDACT_QUERY_PARAMS)
encoding.use_json_encoder(DjangoJSONEncoder)
