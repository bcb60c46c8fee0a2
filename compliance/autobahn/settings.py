"""The demo's settings for the Autobahn run: 9.* sends messages up to 16 MiB."""

from demo_project.settings import *  # noqa: F403

WEBSOCKET_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
# 9.3.* and 9.4.* fragment messages of up to 4 MiB into frames of 64 bytes
# (65,536 frames), far past what an honest client sends and past the default
# budget (4,096 frames a message): off here, as the size limit is raised.
WEBSOCKET_MAX_FRAGMENTS = None
