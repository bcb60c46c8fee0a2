"""The public surface."""

import subprocess
import sys

import django_ws


def test_all_is_pinned():
    assert sorted(django_ws.__all__) == [
        "ConnectionClosed", "WebSocket", "WebSocketError", "WebSocketUsageError",
        "accept_websocket", "require_websocket",
    ]
    for name in django_ws.__all__:
        assert getattr(django_ws, name) is not None


def test_importing_the_package_imports_no_gevent():
    # INSTALLED_APPS imports django_ws in every process, runserver's included.
    code = "import sys, django_ws; print('gevent' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
