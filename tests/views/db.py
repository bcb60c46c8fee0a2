"""The ORM from WebSocket views: idle connections, one connection per greenlet."""

import time

from django_ws.decorators import accept_websocket
from django_ws.views import WebSocketView

from ..models import Note


@accept_websocket
def orm(request):
    for text in request.websocket:
        Note.objects.create(text=text)
        request.websocket.send(str(Note.objects.filter(text=text).count()))


@accept_websocket
def db_idle(request):
    """Runs a query, then idles in the iteration: must hold no DB connection."""
    websocket = request.websocket
    websocket.send(f"ready {Note.objects.count()}")
    for _ in websocket:
        websocket.send(f"count {Note.objects.count()}")


class DbIdleDetached(WebSocketView):
    """db_idle as a detached class view: queries in open() and in on_message."""

    def open(self):
        self.write_message(f"ready {Note.objects.count()}")

    def on_message(self, message):
        self.write_message(f"count {Note.objects.count()}")


@accept_websocket
def db_identity(request):
    """Which database connection this view's greenlet uses, across a yield."""
    from django.db import connection

    Note.objects.count()
    first = id(connection.connection)
    time.sleep(0.2)  # let the other views run their queries meanwhile
    Note.objects.count()
    request.websocket.send({"first": first, "second": id(connection.connection)})
