"""A minimal project for the tests (django-cors-headers style)."""

import os
import tempfile

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_ws",
    "tests",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_ws.middleware.WebSocketMiddleware",
]
ROOT_URLCONF = "tests.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # A file, shared by the test process and the live server it starts.
        "NAME": os.environ.get(
            "DJANGO_WS_TEST_DB", os.path.join(tempfile.gettempdir(), "django_ws_tests.sqlite3")
        ),
        "TEST": {"NAME": os.environ.get("DJANGO_WS_TEST_DB")},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
# The scrape token of django_ws.metrics.metrics_view (tests/live/test_metrics.py),
# and a short copy interval for its multiprocess mode.
WEBSOCKET_METRICS_TOKEN = "metrics-token-of-the-tests-0123"
WEBSOCKET_METRICS_INTERVAL = 0.2
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_ws": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}

# tests/live/test_redis_listener.py: a Redis listener that waits an hour for
# its next read unless a join or a leave wakes it.
if "DJANGO_WS_TEST_LISTENER_IDLE_WAIT" in os.environ:
    from django_ws.groups import redis_listener

    redis_listener.IDLE_WAIT = float(os.environ["DJANGO_WS_TEST_LISTENER_IDLE_WAIT"])
