"""The public surface."""

import os
import subprocess
import sys

import pytest

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


def test_the_distribution_is_django_websocket_views():
    # "django-ws" on the index is an unrelated project with its own
    # top-level django_ws package (see the README's Install section).
    import importlib.metadata

    distribution = importlib.metadata.distribution("django-websocket-views")
    assert distribution.version == django_ws.__version__
    assert distribution.metadata["License-Expression"] == "BSD-3-Clause"


@pytest.mark.skipif(not os.environ.get("DJANGO_WS_EXPECT_INSTALLED"),
                    reason="run by nox against the installed wheel")
def test_django_ws_is_imported_from_the_installed_wheel():
    # noxfile.py removes django_ws/ from the copy of the source it runs the
    # tests in: every import must be the installed package.
    import sysconfig
    from pathlib import Path

    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(django_ws.__file__).resolve().is_relative_to(site_packages)
