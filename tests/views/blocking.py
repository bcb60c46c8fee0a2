"""Views that hold the event loop, thread mode, and dwebsocket's polling habits."""

import time

from django_ws.compat.dwebsocket import accept_websocket as compat_accept_websocket
from django_ws.decorators import accept_websocket
from django_ws.views import WebSocketView

from .probes import PROBES


def _compat_poll(request):
    """itsharex/Deeptrain's monitor: a read() poll, and pushes from a thread."""
    import threading

    ws = request.websocket
    key = request.GET["key"]

    def push():
        n = 0
        while not ws.is_closed():
            ws.send(f"tick {n}")
            n += 1
            time.sleep(0.05)

    threading.Thread(target=push, daemon=True).start()
    while not ws.is_closed():
        message = ws.read()
        if message is not None:
            ws.send(b"got " + message)
    PROBES[key] = "ended"


compat_poll = compat_accept_websocket(_compat_poll)


compat_poll_threaded = compat_accept_websocket(threaded=True)(_compat_poll)


@compat_accept_websocket
def compat_forever(request):
    """flask-sock's README loop: wait() and send() for ever, even after the close.

    Counts its turns in ``PROBES["compat-forever"]``: once the view is ended,
    the count stops."""
    ws = request.websocket
    while True:
        PROBES["compat-forever"] = PROBES.get("compat-forever", 0) + 1  # type: ignore[operator]
        data = ws.wait()
        ws.send(data)


# Views that hold the event loop (issue 22): in C, and in pure Python.
def _block_in_c(request):
    """Each message: ?ms= (300) in a C call gevent cannot patch (usleep), then an echo.

    With ``?until=PATH``, in C calls of 10 ms until the file PATH exists (a
    test's release, which needs no event loop), 6,000 of them at most."""
    import ctypes
    import os

    libc = ctypes.CDLL(None)
    pause = int(request.GET.get("ms", "300")) * 1000
    release = request.GET.get("until")
    for message in request.websocket:
        if "announce" in request.GET:
            request.websocket.send("blocking")  # sent before the C call starts
        if release is None:
            libc.usleep(pause)
        else:
            for _ in range(6000):
                if os.path.exists(release):
                    break
                libc.usleep(10_000)
        request.websocket.send(message)


block_in_c = accept_websocket(_block_in_c)


# The same on a thread (django_ws.threads): the others go on meanwhile.
block_in_c_threaded = accept_websocket(threaded=True)(_block_in_c)


@accept_websocket(threaded=True)
def threaded_orm(request):
    """A threaded view using the ORM: the users' count, then an echo; its thread's name."""
    import threading

    from django.contrib.auth.models import User

    ws = request.websocket
    ws.send(f"users {User.objects.count()} on {threading.current_thread().name}")
    for message in ws:
        ws.send(f"echo:{message}")


@accept_websocket(threaded=True)
def threaded_fails(request):
    """A threaded view that raises at the message "boom" (its client gets 1011)."""
    for message in request.websocket:
        if message == "boom":
            raise ValueError("the threaded view failed on purpose")
        request.websocket.send(message)


class ThreadedChat(WebSocketView):
    """A Tornado-style view on a thread: open() and the hooks block in C."""

    threaded = True

    def open(self):
        import ctypes

        ctypes.CDLL(None).usleep(100_000)
        self.write_message("welcome")

    def on_message(self, message):
        self.write_message(f"echo:{message}")


@accept_websocket
def spin(request):
    """Says "spinning", then never yields again (a loop that polls nothing)."""
    request.websocket.send("spinning")
    n = 0
    while True:
        n += 1
