"""Settings for the django_ws server under test (`django-admin runws`).

Same apps, middleware, logging and (absent) database use as the Channels peer
(bench_channels.settings), plus django_ws and its middleware, so the whole
Django request stack runs for every WebSocket connection.
"""

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django_ws",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so a WebSocket request has been through the usual stack first.
    "django_ws.middleware.WebSocketMiddleware",
]

ROOT_URLCONF = "bench_djws.urls"

# The peers are all configured for 16 MiB: S3 sends 1 MiB messages, exactly
# django_ws's default limit.
WEBSOCKET_MAX_MESSAGE_SIZE = 16 * 1024 * 1024

# S7 (a hostile neighbour) measures django_ws as shipped: the frame budgets
# (WEBSOCKET_MAX_FRAGMENTS, 4096 frames per message; WEBSOCKET_MAX_CONTROL_FRAMES,
# 50 pings and pongs per second) keep django_ws's defaults, so they are not set here.

# No database: signed-cookie sessions, and the (lazy) user is never loaded.
# (An in-memory SQLite "default" made runws answer 500: the wrapper closed at
# request_finished belongs to another thread id under gevent.)
DATABASES: dict[str, dict[str, str]] = {}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
USE_TZ = True

# Only warnings: per-request log lines would be measured as server cost.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
# bench/studies/metrics_cost.py: the scrape token of /metrics/ (mounted when set).
WEBSOCKET_METRICS_TOKEN = __import__("os").environ.get("BENCH_DJWS_METRICS") or None
