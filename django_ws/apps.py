"""The Django app: registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoWSConfig(AppConfig):
    name = "django_ws"
    verbose_name = "WebSockets"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
