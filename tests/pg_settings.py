"""The test settings on PostgreSQL at $DJANGO_WS_TEST_PG (host:port)."""

import os

from tests.settings import *  # noqa: F403

_host, _, _port = os.environ.get("DJANGO_WS_TEST_PG", "127.0.0.1:5432").partition(":")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": _host,
        "PORT": _port,
    }
}
