"""gevent monkey-patching for the server entry points, and only for them.

Views are plain blocking code (``time.sleep()``, the ORM, ``requests``), and
only patched sockets, sleeps and locks yield to the other connections'
greenlets. Library code never patches: ``runws``, the gunicorn worker and the
test server call :func:`patch` before they serve.

Django may already be imported when a management command or a gunicorn
worker class gets to patch (``manage.py`` sets Django up to find the command).
Its database handler keeps connections in a ``threading.local`` made at
import, which would then be one storage shared by every greenlet: each view's
queries would run on one connection. :func:`patch` gives the handlers new
storage, made after patching, so each greenlet gets its own connections, as
each thread does under a threaded server.
"""

from __future__ import annotations

import sys

__all__ = ["patch", "reset_django_state"]


def patch() -> None:
    """Monkey-patch the process with gevent; fix Django state made before."""
    from gevent import monkey

    monkey.patch_all()
    reset_django_state()


def reset_django_state() -> None:
    """Give Django's connection handlers storage made under the patch."""
    if "django.db" not in sys.modules:
        return  # nothing made yet: Django will make it patched
    from asgiref.local import Local
    from django.core.cache import caches
    from django.db import connections

    for handler in (connections, caches):
        # The wrappers made so far (defining the models asks the database
        # for its name limits) hold no open connection: forget them. They
        # are made again on first use, in the greenlet that uses them.
        handler._connections = Local(handler.thread_critical)  # type: ignore[union-attr]
