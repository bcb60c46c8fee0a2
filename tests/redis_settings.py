"""The test settings with the Redis groups backend at $DJANGO_WS_TEST_REDIS."""

import os

from tests.settings import *  # noqa: F403

WEBSOCKET_GROUPS = {
    "default": {
        "BACKEND": "django_ws.groups.redis.RedisBackend",
        "OPTIONS": {"url": os.environ.get("DJANGO_WS_TEST_REDIS", "redis://127.0.0.1:6379/0"),
                    "prefix": "test:"},
    }
}
