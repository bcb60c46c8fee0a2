"""Settings of the demo: SQLite, DEBUG, everything embedded."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-demo-only-never-use-in-production"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_ws",
    "demo_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ws.middleware.WebSocketMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_WS_DEMO_DB", BASE_DIR / "db.sqlite3"),
    }
}

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# Django's default is America/Chicago, which it also sets as the process's
# time zone: the server's log lines would be hours off.
TIME_ZONE = "UTC"

# Groups live in this process's memory; set DJANGO_WS_DEMO_REDIS to a Redis URL
# (redis://127.0.0.1:6379/0) to let several server processes share the chat.
if os.environ.get("DJANGO_WS_DEMO_REDIS"):
    WEBSOCKET_GROUPS = {
        "default": {
            "BACKEND": "django_ws.groups.redis.RedisBackend",
            "OPTIONS": {"url": os.environ["DJANGO_WS_DEMO_REDIS"]},
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_ws": {"handlers": ["console"], "level": "INFO"}},
}
