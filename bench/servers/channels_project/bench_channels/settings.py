"""Settings for the Channels 4 peer (served by Daphne or uvicorn).

Kept as close as possible to bench_djws.settings: same apps, same HTTP
middleware, DEBUG off, no database access on the hot path.
"""

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
]

# Django's usual stack for the HTTP broadcast trigger. WebSockets get the
# Channels equivalent (AuthMiddlewareStack = sessions + auth) in asgi.py.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench_channels.urls"
ASGI_APPLICATION = "bench_channels.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

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
