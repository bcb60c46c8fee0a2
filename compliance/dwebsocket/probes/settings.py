"""Settings for the probe project, on either library.

``DWEBSOCKET_PROBES_LIBRARY=dwebsocket``: dwebsocket 0.5.12 (Django 3.0,
runserver); otherwise django_ws's compatibility layer (runws).
``DWEBSOCKET_PROBES_MIDDLEWARE=1`` adds the library's middleware, for the
probes of undecorated views (dwebsocket's decorators cannot be combined with
its middleware on Django 3.0: both would send the 101);
``DWEBSOCKET_PROBES_ACCEPT_ALL=1`` sets ``WEBSOCKET_ACCEPT_ALL``.
"""

import os

DWEBSOCKET = os.environ.get("DWEBSOCKET_PROBES_LIBRARY") == "dwebsocket"

SECRET_KEY = "dwebsocket-probes-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [] if DWEBSOCKET else ["django_ws"]
ROOT_URLCONF = "compliance.dwebsocket.probes.urls"
DATABASES = {}
USE_TZ = True
MIDDLEWARE = []
if os.environ.get("DWEBSOCKET_PROBES_MIDDLEWARE") == "1":
    MIDDLEWARE = [
        "compliance.dwebsocket.probes.dwebsocket_middleware.WebSocketMiddleware"
        if DWEBSOCKET else "django_ws.compat.dwebsocket.middleware.WebSocketMiddleware"
    ]
WEBSOCKET_ACCEPT_ALL = os.environ.get("DWEBSOCKET_PROBES_ACCEPT_ALL") == "1"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "CRITICAL"}},
}
