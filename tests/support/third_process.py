"""Orders given from a third process (a ``django shell``, as an admin's shell or
a Celery task would) to servers on one Redis: disconnect(), Django's logout()."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.timing import TIMEOUT

PREFIX = "disconnect-test:"


def groups_config(url, cluster):
    return {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                        "OPTIONS": {"url": url, "prefix": PREFIX, "cluster": cluster,
                                    "subscribe_timeout": TIMEOUT}}}


def from_a_third_process(backend, live_db, code):
    """Run ``code`` in a ``django shell`` with the servers' groups and database."""
    config = backend["default"]["OPTIONS"]
    setup = (
        "from django.conf import settings; "
        f"settings.WEBSOCKET_GROUPS = {backend!r}; "
        "from django.contrib.auth.models import User; "
        "from django_ws.groups import disconnect; "
    )
    subprocess.run(
        [sys.executable, "-m", "django", "shell", "-c", setup + code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
             "DJANGO_WS_TEST_DB": live_db, "DJANGO_WS_TEST_REDIS": config["url"]},
        check=True, timeout=TIMEOUT * 6,
    )


def logout_in_a_third_process(backend, live_db, username, session_key):
    """Django's own logout(), in another process, on that session."""
    from_a_third_process(backend, live_db, (
        "from django.contrib.auth import logout; "
        "from django.contrib.sessions.backends.db import SessionStore; "
        "from django.test import RequestFactory; "
        "request = RequestFactory().get('/'); "
        f"request.session = SessionStore(session_key={session_key!r}); "
        f"request.user = User.objects.get(username={username!r}); "
        "logout(request)"
    ))
