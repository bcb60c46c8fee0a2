"""Why ``'django_ws.compat.dwebsocket'`` in ``INSTALLED_APPS`` is refused.

dwebsocket's guide puts ``'dwebsocket'`` in ``INSTALLED_APPS``; changing the
line to the compat layer would leave out ``'django_ws'``, and with it
``runws`` and the system checks (Django says only ``Unknown command:
'runws'``). The compat layer is imports only: this app exists to say so,
in ``manage.py check`` (django_ws.E016).
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.core import checks


class DwebsocketCompatConfig(AppConfig):
    name = "django_ws.compat.dwebsocket"
    label = "django_ws_compat_dwebsocket"
    verbose_name = "WebSockets (dwebsocket's imports)"

    def ready(self) -> None:
        checks.register(check_installed_apps)


def check_installed_apps(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """django_ws.E016: the compat layer is an app, in place of (or beside) django_ws."""
    if not apps.is_installed("django_ws.compat.dwebsocket"):
        return []  # registered once, and INSTALLED_APPS changed since (tests)
    return [checks.Error(
        "'django_ws.compat.dwebsocket' is in INSTALLED_APPS: the compat layer is imports "
        "only, not an app.",
        hint="Put 'django_ws' in INSTALLED_APPS instead (it brings runws and the checks); "
             "keep the imports from django_ws.compat.dwebsocket.",
        id="django_ws.E016",
    )]
