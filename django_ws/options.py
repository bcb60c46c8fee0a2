"""Every default, and the options of one connection: no Django here.

The connection core (:mod:`django_ws.connection`) takes a
:class:`ConnectionOptions` and nothing else from the project, so it runs,
and is tested, without configured settings (whitenoise's split of its core
from its Django adapter). :mod:`django_ws.conf` reads the ``WEBSOCKET_*``
settings into these.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from websockets.extensions.base import ServerExtensionFactory

__all__ = ["DEFAULTS", "OPTION_NAMES", "PER_USER_POLICIES", "ConnectionOptions", "MiB"]

MiB = 1024 * 1024

#: The values of ``WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY``.
PER_USER_POLICIES = ("refuse", "close_oldest")

#: Default of each setting, by its name.
DEFAULTS: dict[str, Any] = {
    "WEBSOCKET_ACCEPT_ALL": False,
    "WEBSOCKET_ALLOWED_ORIGINS": [],
    "WEBSOCKET_MAX_MESSAGE_SIZE": 1 * MiB,
    "WEBSOCKET_MAX_QUEUE": 64,
    # Bytes (characters for text) of received messages queued for the view:
    # past it, as past WEBSOCKET_MAX_QUEUE messages, the server stops reading
    # (TCP backpressure). One message always fits. None: no limit in bytes.
    "WEBSOCKET_MAX_QUEUE_BYTES": 1 * MiB,
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
    # Bytes of a request's head (request line and headers) the server reads;
    # past it, 431. pywsgi alone allowed 100 lines of 64 KiB (6 MB), kept in
    # the environ of a WebSocket for its whole life.
    "WEBSOCKET_MAX_REQUEST_HEAD": 65536,
    # Thread mode (django_ws.threads): views run on a real OS thread by
    # default (@accept_websocket(threaded=...) per view), and the size of the
    # pool; past it a handshake to a threaded view gets 503 with Retry-After.
    "WEBSOCKET_THREADED": False,
    "WEBSOCKET_THREADS": 32,
    # Django's logout() closes the user's connections opened with that
    # session, in every process (django_ws.groups.disconnect, code 4401).
    "WEBSOCKET_CLOSE_ON_LOGOUT": True,
    # Seconds the event loop may stay blocked (a view that does not yield)
    # before runws logs a WARNING with the stack (django_ws.server.watchdog). None:
    # no watching (the shutdown still gets past a stuck view).
    "WEBSOCKET_LOOP_BLOCKED_THRESHOLD": 0.5,
    # WebSocket connections one server process holds; past it a handshake
    # gets 503 with Retry-After before any 101. None: no limit.
    "WEBSOCKET_MAX_CONNECTIONS": None,
    # WebSocket connections one authenticated user may hold at once, counted
    # in every process through the "default" groups backend (Redis: with
    # expiry, so that a killed process's count ends); past it a handshake
    # gets 429 with Retry-After before any 101, or, with the policy
    # "close_oldest", the user's oldest connection closes (code 4429).
    # None: no limit. Per view: @accept_websocket(max_connections_per_user=N).
    "WEBSOCKET_MAX_CONNECTIONS_PER_USER": None,
    "WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY": "refuse",
    # Seconds a 503 (full, or shutting down) or a 429 asks the client to wait.
    "WEBSOCKET_RETRY_AFTER": 5,
    # runws and the gunicorn worker set glibc malloc's thresholds for large
    # messages (django_ws.process.malloc).
    "WEBSOCKET_TUNE_MALLOC": True,
    # Query parameters whose values never reach a log line or the connection
    # registry (django_ws.connection.redaction): tokens that clients without cookies send.
    "WEBSOCKET_REDACT_QUERY_PARAMS": [
        "token", "auth", "authorization", "key", "apikey", "secret", "password", "passwd",
        "signature", "sig", "session", "sessionid", "jwt", "ticket", "credential",
        "credentials", "code", "refresh", "bearer", "csrfmiddlewaretoken",
    ],
    # Messages per second a client may send, on average, and how many it may
    # send at once above that (None: as many as the rate). Past them the
    # server reads more slowly (TCP backpressure), or closes with 1008 when
    # WEBSOCKET_RATE_LIMIT_CLOSE. None: no limit.
    "WEBSOCKET_MESSAGE_RATE": None,
    # Frames that make no message (django_ws.protocol.FrameBudget): data
    # frames of one message, and pings and pongs per second (as many at
    # once). Past either, the connection closes with 1008. None: no limit.
    "WEBSOCKET_MAX_FRAGMENTS": 4096,
    "WEBSOCKET_MAX_CONTROL_FRAMES": 50,
    "WEBSOCKET_MESSAGE_BURST": None,
    "WEBSOCKET_RATE_LIMIT_CLOSE": False,
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
    max_queue_bytes: int | None = DEFAULTS["WEBSOCKET_MAX_QUEUE_BYTES"]
    ping_interval: float | None = DEFAULTS["WEBSOCKET_PING_INTERVAL"]
    ping_timeout: float | None = DEFAULTS["WEBSOCKET_PING_TIMEOUT"]
    send_timeout: float | None = DEFAULTS["WEBSOCKET_SEND_TIMEOUT"]
    max_send_buffer: int | None = DEFAULTS["WEBSOCKET_MAX_SEND_BUFFER"]
    close_timeout: float | None = DEFAULTS["WEBSOCKET_CLOSE_TIMEOUT"]
    message_rate: float | None = DEFAULTS["WEBSOCKET_MESSAGE_RATE"]
    message_burst: int | None = DEFAULTS["WEBSOCKET_MESSAGE_BURST"]
    rate_limit_close: bool = DEFAULTS["WEBSOCKET_RATE_LIMIT_CLOSE"]
    max_fragments: int | None = DEFAULTS["WEBSOCKET_MAX_FRAGMENTS"]
    max_control_frames: int | None = DEFAULTS["WEBSOCKET_MAX_CONTROL_FRAMES"]
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
