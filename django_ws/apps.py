"""The Django app: registers the system checks."""

from __future__ import annotations

import sys

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class DjangoWSConfig(AppConfig):
    name = "django_ws"
    verbose_name = "WebSockets"

    def import_models(self) -> None:
        # Django's second step: every app config exists (lazy objects that
        # ask for one, such as admin.site, can be set up), no ready() ran.
        _patch_before_ready_for_runws()
        super().import_models()

    def ready(self) -> None:
        from django.apps import apps
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        from . import checks  # registers the checks
        from .groups.disconnect import close_on_logout, close_on_password_change

        # Connected whether or not django.contrib.auth is installed: the
        # signal exists without it, and is then never sent.
        user_logged_out.connect(close_on_logout, dispatch_uid="django_ws.close_on_logout")
        try:
            user_model = apps.get_model(settings.AUTH_USER_MODEL)
        except (LookupError, ValueError):
            user_model = None  # no django.contrib.auth, nor a user model of the project's
        if user_model is not None:
            post_save.connect(close_on_password_change, sender=user_model,
                              dispatch_uid="django_ws.close_on_password_change")

        # Not left to `manage.py check`: with the unrelated django-ws
        # installed too, our own modules may be overwritten, and the first
        # import of a missing name would fail before any check runs.
        for error in checks.check_distribution():
            raise ImproperlyConfigured(f"{error.msg} HINT: {error.hint} ({error.id})")


def _patch_before_ready_for_runws() -> None:
    """``manage.py runws`` patches here, before any app's ready() runs.

    runws patches first thing (django_ws.process.patching), but Django imports a
    command only after ``django.setup()``, which runs every app's ready(): a
    thread started there (a dwebsocket project's pusher) was a real thread,
    broken by the patch that came after ("cannot release un-acquired lock").
    Django imports every app's models before it calls any ready(), so the
    patch comes then when this process is runws (not earlier: gevent looks
    at every object to patch the locks, and Django's lazy objects, such as
    admin.site, need the app configs to exist). Nothing else patches: library code
    never does (the house rule); this is runws's own, earlier.
    """
    if len(sys.argv) > 1 and sys.argv[1] == "runws":
        from .process.patching import patch

        patch()
