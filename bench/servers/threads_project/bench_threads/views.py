"""The same view code on a greenlet and on a thread (bench/studies/threads.py)."""

import ctypes

from django_ws.decorators import require_websocket

_libc = ctypes.CDLL(None)


def _echo(request):
    for message in request.websocket:
        request.websocket.send(message)


def _block(request):
    """Each message: block in C (usleep, which gevent cannot patch), then echo it."""
    usec = int(request.GET.get("ms", "300")) * 1000
    for message in request.websocket:
        _libc.usleep(usec)
        request.websocket.send(message)


echo = require_websocket(_echo)
echo_threaded = require_websocket(threaded=True)(_echo)
block = require_websocket(_block)
block_threaded = require_websocket(threaded=True)(_block)
