"""Settings: one typed property per ``WEBSOCKET_*`` setting.

The defaults live here and only here. Values are read once and cached: a
missing setting costs Django's lazy settings an exception on every look-up,
and every connection looks up several. ``override_settings`` clears the
cache (Django's ``setting_changed`` signal). Values are validated by
:mod:`django_ws.checks` (``manage.py check``), not here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

if TYPE_CHECKING:  # pragma: no cover
    from websockets.extensions.base import ServerExtensionFactory

MiB = 1024 * 1024

#: Default of each setting, by its name.
DEFAULTS: dict[str, Any] = {
    "WEBSOCKET_ACCEPT_ALL": False,
    "WEBSOCKET_ALLOWED_ORIGINS": [],
    "WEBSOCKET_MAX_MESSAGE_SIZE": 1 * MiB,
    "WEBSOCKET_MAX_QUEUE": 64,
    "WEBSOCKET_PING_INTERVAL": 20.0,
    "WEBSOCKET_PING_TIMEOUT": 20.0,
    "WEBSOCKET_SEND_TIMEOUT": 60.0,
    # Bytes of group messages a client may leave unread before it is
    # disconnected as too slow (broadcast never waits for one member).
    "WEBSOCKET_MAX_SEND_BUFFER": 4 * MiB,
    "WEBSOCKET_CLOSE_TIMEOUT": 10.0,
    # Time for a client to send a request's line and headers, a handshake or
    # plain HTTP: a slowloris sending a byte a second cannot hold a greenlet.
    "WEBSOCKET_HANDSHAKE_TIMEOUT": 10.0,
    # WebSocket connections one server process holds; past it a handshake
    # gets 503 with Retry-After before any 101. None: no limit.
    "WEBSOCKET_MAX_CONNECTIONS": None,
    # Seconds a 503 (full, or shutting down) asks the client to wait.
    "WEBSOCKET_RETRY_AFTER": 5,
    # runws and the gunicorn worker set glibc malloc's thresholds for large
    # messages (django_ws.malloc).
    "WEBSOCKET_TUNE_MALLOC": True,
    # Query parameters whose values never reach a log line or the connection
    # registry (django_ws.redact): tokens that clients without cookies send.
    "WEBSOCKET_REDACT_QUERY_PARAMS": [
        "token", "auth", "authorization", "key", "apikey", "secret", "password", "passwd",
        "signature", "sig", "session", "sessionid", "jwt", "ticket", "credential",
        "credentials",
    ],
    # The bearer token that opens django_ws.metrics.metrics_view to a scraper
    # (Authorization: Bearer <token>); None: staff users only.
    "WEBSOCKET_METRICS_TOKEN": None,
    # Seconds between a server process's copies of its counts into
    # PROMETHEUS_MULTIPROC_DIR (multiprocess mode only).
    "WEBSOCKET_METRICS_INTERVAL": 5.0,
    # permessage-deflate (RFC 7692): a dict of options for websockets'
    # ServerPerMessageDeflateFactory; None turns compression off. The default
    # is the websockets library's own: small windows, so memory per
    # connection stays modest.
    "WEBSOCKET_COMPRESSION": {
        "server_max_window_bits": 12,
        "client_max_window_bits": 12,
        "compress_settings": {"memLevel": 5},
    },
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConnectionOptions:
    """Limits and policies of one connection.

    Built from the settings, then overridden per view by keyword arguments of
    :func:`~django_ws.decorators.accept_websocket`. Times are in seconds;
    ``None`` disables the limit.
    """

    max_message_size: int | None = DEFAULTS["WEBSOCKET_MAX_MESSAGE_SIZE"]
    max_queue: int = DEFAULTS["WEBSOCKET_MAX_QUEUE"]
    ping_interval: float | None = DEFAULTS["WEBSOCKET_PING_INTERVAL"]
    ping_timeout: float | None = DEFAULTS["WEBSOCKET_PING_TIMEOUT"]
    send_timeout: float | None = DEFAULTS["WEBSOCKET_SEND_TIMEOUT"]
    max_send_buffer: int | None = DEFAULTS["WEBSOCKET_MAX_SEND_BUFFER"]
    close_timeout: float | None = DEFAULTS["WEBSOCKET_CLOSE_TIMEOUT"]
    compression: Mapping[str, Any] | None = dataclasses.field(
        default_factory=lambda: dict(DEFAULTS["WEBSOCKET_COMPRESSION"])
    )
    subprotocols: Sequence[str] | None = None

    def replace(self, **changes: Any) -> ConnectionOptions:
        """Return a copy with ``changes`` applied; unknown names raise TypeError."""
        return dataclasses.replace(self, **changes)

    @functools.cached_property
    def extensions(self) -> list[ServerExtensionFactory]:
        """The extension factories for ``compression``, built once.

        Shared by every connection with these options: a factory keeps no
        per-connection state (it makes a new extension for each handshake).
        """
        from .protocol import compression_extensions

        return compression_extensions(self.compression)


#: Names a view may override in ``@accept_websocket(...)``.
OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(ConnectionOptions))


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
    def HANDSHAKE_TIMEOUT(self) -> float | None:
        return self._get("WEBSOCKET_HANDSHAKE_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def MAX_CONNECTIONS(self) -> int | None:
        return self._get("WEBSOCKET_MAX_CONNECTIONS")  # type: ignore[no-any-return]

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
            ping_interval=self.PING_INTERVAL,
            ping_timeout=self.PING_TIMEOUT,
            send_timeout=self.SEND_TIMEOUT,
            max_send_buffer=self.MAX_SEND_BUFFER,
            close_timeout=self.CLOSE_TIMEOUT,
            compression=self.COMPRESSION,
        )
        return options


settings = Settings()


def _setting_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith("WEBSOCKET_"):
        settings.clear()


setting_changed.connect(_setting_changed, dispatch_uid="django_ws.conf")
