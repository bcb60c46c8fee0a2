"""The Django app: registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class DjangoWSConfig(AppConfig):
    name = "django_ws"
    verbose_name = "WebSockets"

    def ready(self) -> None:
        from . import checks  # registers the checks

        # Not left to `manage.py check`: with the unrelated django-ws
        # installed too, our own modules may be overwritten, and the first
        # import of a missing name would fail before any check runs.
        for error in checks.check_distribution():
            raise ImproperlyConfigured(f"{error.msg} HINT: {error.hint} ({error.id})")
