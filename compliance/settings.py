"""The demo's settings for the Autobahn run: 9.* sends messages up to 16 MiB."""

from demo_project.settings import *  # noqa: F403

WEBSOCKET_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
