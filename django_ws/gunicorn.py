"""The gunicorn worker's dotted path, as settings and command lines name it:
``-k django_ws.gunicorn.GeventWebSocketWorker``. It lives in
:mod:`django_ws.server.gunicorn`."""

from .server.gunicorn import GeventWebSocketWorker, child_exit

__all__ = ["GeventWebSocketWorker", "child_exit"]
