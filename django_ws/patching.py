"""``django_ws.patching.patch()``, as earlier docs named it: your own server
entry point calls it first thing. It lives in :mod:`django_ws.process.patching`."""

from .process.patching import patch, reset_django_state

__all__ = ["patch", "reset_django_state"]
