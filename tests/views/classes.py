"""Class views (``WebSocketView``): Tornado-style hooks, attached and detached."""

import gevent
import gevent.event
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from django_ws.views import WebSocketView

from .probes import PROBES


class Chat(WebSocketView):
    subprotocols = ["chat.v2", "chat.v1"]
    websocket_options = {"max_message_size": 1000}

    def get(self, request):
        return HttpResponse("chat page")

    def open(self):
        if self.request.GET.get("refuse"):
            raise PermissionDenied
        self.received = []
        self.write_message({"hello": str(self.request.user),
                            "subprotocol": self.websocket.subprotocol})

    def on_message(self, message):
        self.received.append(message)
        if message == "bye":
            self.close(4000, "bye")
        else:
            self.write_message(message.upper() if isinstance(message, str) else message,
                               binary=isinstance(message, bytes))

    def on_close(self):
        PROBES[self.request.GET.get("key", "chat")] = {
            "received": [m for m in self.received if isinstance(m, str)],
            "code": self.websocket.close_code}


class PickyOrigin(WebSocketView):
    def check_origin(self, origin):
        # As ported from Tornado: origin is never None here.
        return origin.startswith("https://trusted.example")

    def open(self):
        self.write_message("welcome")


RELEASE = gevent.event.Event()


class DetachedEcho(WebSocketView):
    """Echoes after the request has ended (detached); ``raise`` breaks on_message."""

    def on_message(self, message):
        if message == "raise":
            raise ValueError("on_message failed on purpose")
        if message == "wait":  # blocks this burst until a "release" from anyone
            self.write_message("waiting")
            RELEASE.wait(timeout=30)
            RELEASE.clear()
        elif message == "release":
            RELEASE.set()
        self.write_message(message)

    def on_close(self):
        key = self.request.GET.get("key")
        if key:
            PROBES[key] = {"code": self.websocket.close_code,
                           "in": self.websocket.messages_in}


class AttachedEcho(DetachedEcho):
    """The same hooks, called from the view's own greenlet."""

    detached = False
