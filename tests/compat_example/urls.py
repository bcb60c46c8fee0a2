"""The views of dwebsocket's example project (``examples/examples/urls.py``).

Rewritten here to the same behaviour, with its quirks: ``request.is_websocket``
tested without calling it (always true), a broadcast of every message to
every connected client (the sender included) from a module-level list, the
close's ``None`` ending the loop, the socket removed in ``finally``. The only
change a project makes is the import line.
"""

import threading

from django.shortcuts import render
from django.urls import re_path

from django_ws.compat.dwebsocket.decorators import accept_websocket  # was: dwebsocket.decorators

clients = []


def base_view(request):
    return render(request, "index.html")


@accept_websocket
def echo(request):
    if request.is_websocket:
        lock = threading.RLock()
        try:
            lock.acquire()
            clients.append(request.websocket)
            for message in request.websocket:
                if not message:  # the close's None (bytes otherwise)
                    break
                for client in clients:
                    client.send(message)
        finally:
            clients.remove(request.websocket)
            lock.release()


urlpatterns = [
    re_path(r"^$", base_view),
    re_path(r"^echo$", echo),
]
