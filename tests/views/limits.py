"""Limits and abuse: per-user caps, the message rate, floods, slow clients, sizes."""

import time

from django_ws import ConnectionClosed
from django_ws.decorators import accept_websocket, require_websocket

from .probes import PROBES


@accept_websocket(max_connections_per_user=1)
def one_per_user(request):
    """An echo counted on its own: one connection per user (WEBSOCKET_MAX_CONNECTIONS_PER_USER
    does not count it)."""
    for message in request.websocket:
        request.websocket.send(message)


# No compression: the echoes of the messages within the limit then go out
# before the held close frame (see connection/holding.py).
@require_websocket(message_rate=1, message_burst=3, rate_limit_close=True, compression=None)
def rate_limited(request):
    for message in request.websocket:
        request.websocket.send(message)


@accept_websocket
def flood(request):
    """Sends until the client, which never reads, makes send() fail."""
    payload = b"x" * 65536
    try:
        while True:
            request.websocket.send(payload)
    except (TimeoutError, ConnectionClosed) as exc:
        PROBES[request.GET["key"]] = type(exc).__name__


@accept_websocket
def slow_reader(request):
    """Accepts, then does not read for a while: the queue fills up."""
    request.websocket.accept()
    time.sleep(float(request.GET.get("sleep", "3")))
    PROBES[request.GET["key"]] = request.websocket.count_messages()


@accept_websocket
def ticker(request):
    """Only sends, never reads: client pings must still be answered."""
    interval = float(request.GET.get("interval", "0.02"))
    for n in range(int(request.GET.get("ticks", "100"))):
        request.websocket.send(f"tick {n}")
        time.sleep(interval)


@accept_websocket(max_message_size=10, compression=None)
def small(request):
    for message in request.websocket:
        request.websocket.send(message)
