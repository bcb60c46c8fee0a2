"""The dotted paths users write in settings, command lines and their code keep
working whatever the package's layout (issue 23)."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string


@pytest.mark.parametrize("path", [
    "django_ws.gunicorn.GeventWebSocketWorker",
    "django_ws.gunicorn.child_exit",
    "django_ws.patching.patch",
    "django_ws.groups.redis.RedisBackend",
    "django_ws.groups.memory.MemoryBackend",
    "django_ws.middleware.WebSocketMiddleware",
    "django_ws.decorators.accept_websocket",
    "django_ws.decorators.require_websocket",
    "django_ws.decorators.login_required",
    "django_ws.decorators.permission_required",
    "django_ws.views.WebSocketView",
    "django_ws.groups.broadcast",
    "django_ws.groups.disconnect",
    "django_ws.metrics.metrics_view",
    "django_ws.testing.LiveServer",
    "django_ws.testing.WebSocketLiveServerTestCase",
    "django_ws.admin_actions.disconnect_websockets",
    "django_ws.compat.dwebsocket.accept_websocket",
    "django_ws.compat.dwebsocket.middleware.WebSocketMiddleware",
    "django_ws.accept_websocket",
    "django_ws.WebSocket",
    "django_ws.ConnectionClosed",
])
def test_a_public_path_imports(path):
    assert import_string(path) is not None
