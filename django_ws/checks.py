"""System checks (``manage.py check``): misconfiguration fails early.

Ids are stable and never renumbered; the README lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS
from .options import PER_USER_POLICIES

MIDDLEWARE_PATH = "django_ws.middleware.WebSocketMiddleware"
#: The middleware classes that attach ``request.websocket``: ours and the
#: dwebsocket compatibility layer's.
MIDDLEWARE_PATHS = (MIDDLEWARE_PATH, "django_ws.compat.dwebsocket.middleware.WebSocketMiddleware")

_NUMBERS: dict[str, tuple[type[int] | type[float], ...]] = {
    "WEBSOCKET_MAX_MESSAGE_SIZE": (int,),
    "WEBSOCKET_MAX_QUEUE": (int,),
    "WEBSOCKET_MAX_QUEUE_BYTES": (int,),
    "WEBSOCKET_MAX_SEND_BUFFER": (int,),
    "WEBSOCKET_PING_INTERVAL": (int, float),
    "WEBSOCKET_PING_TIMEOUT": (int, float),
    "WEBSOCKET_SEND_TIMEOUT": (int, float),
    "WEBSOCKET_CLOSE_TIMEOUT": (int, float),
    "WEBSOCKET_HANDSHAKE_TIMEOUT": (int, float),
    "WEBSOCKET_MAX_REQUEST_HEAD": (int,),
    "WEBSOCKET_LOOP_BLOCKED_THRESHOLD": (int, float),
    "WEBSOCKET_THREADS": (int,),
    "WEBSOCKET_MESSAGE_RATE": (int, float),
    "WEBSOCKET_MESSAGE_BURST": (int,),
    "WEBSOCKET_MAX_FRAGMENTS": (int,),
    "WEBSOCKET_MAX_CONTROL_FRAMES": (int,),
    "WEBSOCKET_MAX_CONNECTIONS": (int,),
    "WEBSOCKET_MAX_CONNECTIONS_PER_USER": (int,),
    "WEBSOCKET_RETRY_AFTER": (int,),
    "WEBSOCKET_METRICS_INTERVAL": (int, float),
}
_NOT_NULLABLE = {"WEBSOCKET_MAX_QUEUE", "WEBSOCKET_RETRY_AFTER", "WEBSOCKET_METRICS_INTERVAL",
                 "WEBSOCKET_THREADS"}


@register(Tags.database)
def check_blocking_database_driver(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """django_ws.W005: PostgreSQL through psycopg2 without psycogreen's wait callback.

    psycopg2 waits for the server in C: under gevent each query holds the
    event loop, and every connection of the process, for its whole length.
    psycopg 3 (which Django prefers when installed) waits in Python, which
    gevent makes cooperative; psycogreen makes psycopg2 do the same.
    """
    engines = [db.get("ENGINE", "") for db in getattr(django_settings, "DATABASES", {}).values()]
    return _psycopg2_without_wait_callback(engines)


def _psycopg2_without_wait_callback(engines: list[str]) -> list[Any]:
    if not any("postgresql" in engine for engine in engines):
        return []
    try:
        import psycopg  # noqa: F401  (Django uses psycopg 3 when it is installed)
    except ImportError:
        pass
    else:
        return []
    try:
        from psycopg2 import extensions
    except ImportError:
        return []
    if extensions.get_wait_callback() is not None:
        return []
    return [Warning(
        "A PostgreSQL database is used through psycopg2 without a wait callback: each "
        "query blocks the event loop, and every WebSocket of the process, while it runs.",
        hint="pip install psycogreen and call psycogreen.gevent.patch_psycopg() first thing "
             "(in settings.py or wsgi.py), or install psycopg 3 (pip install 'psycopg[binary]').",
        id="django_ws.W005",
    )]


@register(Tags.compatibility)
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
    installed = [path for path in middleware if path in MIDDLEWARE_PATHS]
    if not installed:
        if getattr(django_settings, "WEBSOCKET_ACCEPT_ALL", False):
            return [Error(
                "WEBSOCKET_ACCEPT_ALL is True but WebSocketMiddleware is not in MIDDLEWARE, "
                "so undecorated views cannot accept WebSockets.",
                hint=f"Add {MIDDLEWARE_PATH!r} at the end of MIDDLEWARE.",
                id="django_ws.E001",
            )]
        return []
    if middleware[-1] != installed[0]:
        return [Warning(
            "WebSocketMiddleware is not last in MIDDLEWARE: middleware after it does not "
            "see WebSocket requests in process_view().",
            hint=f"Move {installed[0]!r} to the end of MIDDLEWARE.",
            id="django_ws.W001",
        )]
    return []


def check_dwebsocket_settings() -> list[Any]:
    """W002: dwebsocket's ``WEBSOCKET_FACTORY_CLASS`` (its uWSGI backend) is ignored."""
    factory = getattr(django_settings, "WEBSOCKET_FACTORY_CLASS", None)
    if factory is None:
        return []
    return [Warning(
        f"WEBSOCKET_FACTORY_CLASS is {factory!r}, a dwebsocket setting that django_ws "
        f"ignores: the server (runws or the gunicorn worker) makes the WebSocket. uWSGI is "
        f"not a supported server.",
        hint="Remove WEBSOCKET_FACTORY_CLASS and serve the project with `manage.py runws`, "
             "or in production with gunicorn's worker instead of uWSGI: "
             "`pip install gunicorn`, then `gunicorn -k "
             "django_ws.gunicorn.GeventWebSocketWorker -w 4 -b 127.0.0.1:8000 "
             "myproject.wsgi` (see the README's Deployment section).",
        id="django_ws.W002",
    )]


def _check_bool(name: str, check_id: str, expected: str) -> list[Any]:
    value = getattr(django_settings, name, DEFAULTS[name])
    if isinstance(value, bool):
        return []
    return [Error(f"{name} is {value!r}; expected {expected}.", id=check_id)]


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = check_dwebsocket_settings()
    for name, types in _NUMBERS.items():
        value: Any = getattr(django_settings, name, DEFAULTS[name])
        nullable = name not in _NOT_NULLABLE
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types) or value <= 0:
            expected = "a positive number" + (" or None" if nullable else "")
            errors.append(Error(
                f"{name} is {value!r}; expected {expected}.",
                hint=f"Set {name} to a positive number, or remove it to use the default "
                     f"{DEFAULTS[name]!r}.",
                id="django_ws.E002",
            ))
    origins = getattr(django_settings, "WEBSOCKET_ALLOWED_ORIGINS", [])
    if isinstance(origins, str) or not all(
        isinstance(o, str) and (o == "*" or "://" in o) for o in origins
    ):
        errors.append(Error(
            f"WEBSOCKET_ALLOWED_ORIGINS is {origins!r}; expected a list of origins such as "
            f"'https://app.example.com', or ['*'] to allow every origin.",
            id="django_ws.E003",
        ))
    elif "*" in origins:
        errors.append(Warning(
            "WEBSOCKET_ALLOWED_ORIGINS allows every origin ('*'): a page on any site can open "
            "a WebSocket to this one with your users' cookies (cross-site WebSocket "
            "hijacking).",
            hint="List the origins that may connect, e.g. ['https://app.example.com']; a "
                 "request without Origin (a non-browser client) is allowed anyway.",
            id="django_ws.W004",
        ))
    errors.extend(_check_bool(
        "WEBSOCKET_RATE_LIMIT_CLOSE", "django_ws.E015",
        "True (close with 1008 past WEBSOCKET_MESSAGE_RATE) or False (read more slowly)",
    ))
    errors.extend(_check_bool("WEBSOCKET_TUNE_MALLOC", "django_ws.E010", "True or False"))
    errors.extend(_check_bool(
        "WEBSOCKET_THREADED", "django_ws.E017",
        "True (views run on a thread of the pool, WEBSOCKET_THREADS) or False (on greenlets)",
    ))
    errors.extend(_check_bool(
        "WEBSOCKET_CLOSE_ON_LOGOUT", "django_ws.E018",
        "True (logout() closes the session's connections, code 4401) or False",
    ))
    policy = getattr(django_settings, "WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY",
                     DEFAULTS["WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY"])
    if policy not in PER_USER_POLICIES:
        errors.append(Error(
            f"WEBSOCKET_MAX_CONNECTIONS_PER_USER_POLICY is {policy!r}; expected 'refuse' "
            f"(a user past WEBSOCKET_MAX_CONNECTIONS_PER_USER gets 429) or 'close_oldest' "
            f"(their oldest connection closes).",
            id="django_ws.E019",
        ))
    redact = getattr(django_settings, "WEBSOCKET_REDACT_QUERY_PARAMS",
                     DEFAULTS["WEBSOCKET_REDACT_QUERY_PARAMS"])
    if isinstance(redact, str) or not isinstance(redact, list | tuple | set | frozenset) or not all(
        isinstance(name, str) and name for name in redact
    ):
        errors.append(Error(
            f"WEBSOCKET_REDACT_QUERY_PARAMS is {redact!r}; expected a list of query parameter "
            f"names such as ['token', 'api_key'].",
            hint="Remove it to use the default list (see django_ws.conf.DEFAULTS).",
            id="django_ws.E012",
        ))
    errors.extend(_check_open_files())
    compression = getattr(
        django_settings, "WEBSOCKET_COMPRESSION", DEFAULTS["WEBSOCKET_COMPRESSION"]
    )
    if compression is not None:
        error = _compression_error(compression)
        if error:
            errors.append(Error(
                f"WEBSOCKET_COMPRESSION is {compression!r}: {error}.",
                hint="Use None to turn compression off, or a dict of options of "
                     "websockets' ServerPerMessageDeflateFactory.",
                id="django_ws.E004",
            ))
    return errors


def _check_open_files() -> list[Any]:
    """django_ws.W003: this machine's hard open-files limit is below the connection limit."""
    from .process.fd_limit import MARGIN, open_files_limit

    limit = getattr(django_settings, "WEBSOCKET_MAX_CONNECTIONS", None)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        return []  # None (no limit), or E002's to report
    hard = open_files_limit()[1]
    if hard < 0 or hard >= limit + MARGIN:
        return []
    return [Warning(
        f"WEBSOCKET_MAX_CONNECTIONS is {limit}, but this process may open only {hard} files "
        f"(hard RLIMIT_NOFILE), and every connection is one: accepting will fail first.",
        hint=f"Raise the hard limit to at least {limit + MARGIN} (systemd LimitNOFILE=, "
             f"ulimit -Hn, /etc/security/limits.conf), or lower WEBSOCKET_MAX_CONNECTIONS.",
        id="django_ws.W003",
    )]


def _compression_error(compression: Any) -> str | None:
    if not isinstance(compression, Mapping):
        return "expected a dict or None"
    from .protocol import compression_extensions

    try:
        compression_extensions(compression)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


@register(Tags.compatibility)
def check_groups(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from django.utils.module_loading import import_string

    from .groups import DEFAULT_GROUPS

    config = getattr(django_settings, "WEBSOCKET_GROUPS", DEFAULT_GROUPS)
    if not isinstance(config, Mapping) or "default" not in config:
        return [Error(
            f"WEBSOCKET_GROUPS is {config!r}; expected a dict with a 'default' entry, "
            f"like CACHES.",
            hint="e.g. {'default': {'BACKEND': 'django_ws.groups.memory.MemoryBackend'}}",
            id="django_ws.E005",
        )]
    errors: list[Any] = []
    for alias, entry in config.items():
        path = entry.get("BACKEND") if isinstance(entry, Mapping) else None
        try:
            import_string(path or "")
        except ImportError as exc:
            errors.append(Error(
                f"WEBSOCKET_GROUPS[{alias!r}]['BACKEND'] is {path!r}, which cannot be "
                f"imported: {exc}",
                hint="Use 'django_ws.groups.memory.MemoryBackend' or "
                     "'django_ws.groups.redis.RedisBackend'.",
                id="django_ws.E006",
            ))
            continue
        if path == "django_ws.groups.redis.RedisBackend":
            try:
                import redis  # noqa: F401
            except ImportError:
                errors.append(Error(
                    f"WEBSOCKET_GROUPS[{alias!r}] uses the Redis backend, but the redis "
                    f"package is not installed.",
                    hint="pip install 'django-websocket-views[redis]'",
                    id="django_ws.E007",
                ))
            if not entry.get("OPTIONS", {}).get("url"):
                errors.append(Error(
                    f"WEBSOCKET_GROUPS[{alias!r}]['OPTIONS'] has no 'url' for Redis.",
                    hint="e.g. 'OPTIONS': {'url': 'redis://127.0.0.1:6379/0'}",
                    id="django_ws.E008",
                ))
    return errors


#: Below this length a bearer token is too easy to guess.
MIN_METRICS_TOKEN = 16


@register(Tags.compatibility)
def check_metrics(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E013: ``WEBSOCKET_METRICS_TOKEN`` is no usable token; E014: the metrics
    view is in the URLconf but prometheus_client is not installed."""
    errors: list[Any] = []
    token = getattr(django_settings, "WEBSOCKET_METRICS_TOKEN", None)
    if token is not None and (not isinstance(token, str) or len(token) < MIN_METRICS_TOKEN
                              or token != token.strip()):
        shown = f"a str of {len(token)} characters" if isinstance(token, str) else repr(token)
        errors.append(Error(
            f"WEBSOCKET_METRICS_TOKEN is {shown}; expected None or a str of at least "
            f"{MIN_METRICS_TOKEN} characters without surrounding spaces.",
            hint="e.g. WEBSOCKET_METRICS_TOKEN = os.environ['METRICS_TOKEN'], made with "
                 "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
            id="django_ws.E013",
        ))
    if _metrics_view_mounted():
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            errors.append(Error(
                "django_ws.metrics.metrics_view is in the URLconf, but the prometheus_client "
                "package is not installed.",
                hint="pip install 'django-websocket-views[metrics]'",
                id="django_ws.E014",
            ))
    return errors


def _metrics_view_mounted() -> bool:
    from django.urls import URLPattern, URLResolver, get_resolver

    from .metrics import metrics_view

    if not getattr(django_settings, "ROOT_URLCONF", None):
        return False
    pending: list[Any] = list(get_resolver().url_patterns)
    while pending:  # bounded by the URLconf's size
        entry = pending.pop()
        if isinstance(entry, URLResolver):
            pending.extend(entry.url_patterns)
        elif isinstance(entry, URLPattern) and entry.callback is metrics_view:
            return True
    return False


def check_gevent_patched() -> list[Any]:
    """django_ws.E009: the serving process is not monkey-patched by gevent.

    Not registered with ``manage.py check`` (which rightly runs unpatched):
    ``runws`` and the gunicorn worker run it once they have patched. Without
    patching, a view blocked in ``time.sleep()`` or a socket stops every other
    connection of the process.
    """
    from gevent import monkey

    missing = [name for name in ("socket", "time", "threading", "select")
               if not monkey.is_module_patched(name)]
    if not missing:
        return []
    return [Error(
        f"gevent has not monkey-patched {', '.join(missing)} in this server process: a "
        f"blocking view would stop every other connection.",
        hint="Serve with `manage.py runws` or `gunicorn -k "
             "django_ws.gunicorn.GeventWebSocketWorker` (without --preload), or call "
             "gevent.monkey.patch_all() first thing in your own entry point.",
        id="django_ws.E009",
    )]


#: The unrelated project on the index that also installs a django_ws package.
FOREIGN_DISTRIBUTION = "django-ws"


@register(Tags.compatibility)
def check_distribution(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """django_ws.E011: the unrelated ``django-ws`` is installed beside us.

    Both install files into one ``django_ws`` package, so whichever came
    last has overwritten some of the other's: this one may be half there.
    """
    import importlib.metadata

    try:
        foreign = importlib.metadata.distribution(FOREIGN_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return []
    return [Error(
        f"The unrelated distribution {FOREIGN_DISTRIBUTION!r} {foreign.version} is "
        f"installed beside django-websocket-views; both install a top-level 'django_ws' "
        f"package, so one has overwritten files of the other.",
        hint="pip uninstall django-ws django-websocket-views && "
             "pip install django-websocket-views",
        id="django_ws.E011",
    )]
