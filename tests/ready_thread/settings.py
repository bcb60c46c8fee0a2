"""tests.settings with an app that starts a thread in ready()."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.ready_thread"]  # noqa: F405
ROOT_URLCONF = "tests.ready_thread.urls"
