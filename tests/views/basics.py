"""The classic API: receiving, sending, closing, refusing, subprotocols."""

import time
from array import array

import gevent
import gevent.event
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse

from django_ws import ConnectionClosed
from django_ws.decorators import accept_websocket, require_websocket

from .probes import PROBES


@accept_websocket
def echo(request):
    if not request.is_websocket():
        return HttpResponse("echo page")
    for message in request.websocket:
        request.websocket.send(message)


@accept_websocket
def answers_in_http(request):
    """Refuses every handshake in HTTP: a counted slot must be given back at once."""
    return HttpResponse("not now", status=409, content_type="text/plain")


@require_websocket
def only_ws(request):
    request.websocket.send("hi")


def undecorated(request):
    if request.is_websocket():
        request.websocket.send("undecorated")
        return HttpResponse()
    return HttpResponse("plain page")


@accept_websocket
def queue(request):
    """Sleeps while the client sends, then reports what is queued."""
    websocket = request.websocket
    websocket.accept()
    websocket.send("ready")
    time.sleep(float(request.GET.get("sleep", "0.5")))
    report = {"count": websocket.count_messages(), "has": websocket.has_messages()}
    report["read"] = [websocket.read() for _ in range(report["count"] + 1)]
    report["has_after"] = websocket.has_messages()
    websocket.send(report)


@accept_websocket
def wait_until_closed(request):
    key = request.GET["key"]
    seen = []
    while (message := request.websocket.wait()) is not None:
        seen.append(message)
    PROBES[key] = {"seen": seen, "closed": request.websocket.closed,
                   "code": request.websocket.close_code}


@accept_websocket
def iterate(request):
    key = request.GET["key"]
    seen = [message for message in request.websocket]
    PROBES[key] = {"seen": [repr(message) for message in seen], "none_seen": None in seen}


@accept_websocket
def wait_timeout(request):
    try:
        request.websocket.wait(timeout=0.05)
    except TimeoutError:
        request.websocket.send("timed out")


@accept_websocket
def kinds(request):
    websocket = request.websocket
    websocket.send("text")
    websocket.send(b"\x00binary")
    websocket.send(bytearray(b"ba"))
    websocket.send(memoryview(b"mv"))
    websocket.send(memoryview(array("i", [1, 2])))  # 8 bytes, not 2 items
    websocket.send(bytes(range(256)) * 300)  # large: written beside its header
    websocket.send({"a": 1})
    websocket.send([1, "two"])
    websocket.send("forced", binary=True)
    try:
        websocket.send(42)
    except TypeError as exc:
        websocket.send(f"TypeError: {exc}")
    # What the client sent, as types: the client sends one text, one binary.
    received = [type(websocket.wait()).__name__, type(websocket.wait()).__name__]
    websocket.send(received)


@accept_websocket
def refuse(request, status):
    if status == 404:
        raise Http404("no such room")
    if status == 403:
        raise PermissionDenied
    return HttpResponse("teapot", status=status)


@accept_websocket
def close_with(request):
    code = int(request.GET.get("code", "1000"))
    request.websocket.close(code, "bye")
    try:
        request.websocket.send("after close")
    except ConnectionClosed as exc:
        PROBES[request.GET["key"]] = {"code": exc.code, "closed": request.websocket.closed}


def flagged(request):
    """Undecorated, with dwebsocket's opt-in attribute for the middleware."""
    request.websocket.send("flagged")


flagged.accept_websocket = True  # type: ignore[attr-defined]


@accept_websocket
def dwebsocket_additions(request):
    """is_closed(), read(fallback) and a bytes close reason, in the native API."""
    websocket = request.websocket
    report = {"closed_before": websocket.is_closed(), "fallback": websocket.read("fb"),
              "none": websocket.read()}
    websocket.close(4002, "bytes réason".encode())
    report["closed_after"] = websocket.is_closed()
    PROBES[request.GET["key"]] = report


@accept_websocket
def crash(request):
    request.websocket.send("about to fail")
    raise RuntimeError("boom (expected by the test)")


@accept_websocket
def crash_before_accept(request):
    raise RuntimeError("boom before accept (expected by the test)")


@accept_websocket
def returns_without_closing(request):
    request.websocket.send("bye")


@accept_websocket
def sleepy(request):
    """Blocks in time.sleep(): monkey-patched, it must not stop others."""
    request.websocket.accept()
    time.sleep(float(request.GET.get("sleep", "1")))
    request.websocket.send("woke")


@accept_websocket
def concurrent_senders(request):
    websocket = request.websocket
    senders, count = 8, 200
    payload = "x" * 3000  # several frames in flight at once on the socket

    def send_many(n):
        for i in range(count):
            websocket.send(f"{n}:{i}:{payload}")

    gevent.joinall([gevent.spawn(send_many, n) for n in range(senders)])
    websocket.send("done")


@accept_websocket(subprotocols=["chat.v2", "chat.v1"])
def subprotocol(request):
    request.websocket.accept()
    request.websocket.send(str(request.websocket.subprotocol))


@accept_websocket
def explicit_subprotocol(request):
    websocket = request.websocket
    offered = websocket.subprotocols
    websocket.accept(offered[-1] if offered else None)
    websocket.send(f"{websocket.subprotocol}|{','.join(offered)}")


@accept_websocket
def info(request):
    websocket = request.websocket
    websocket.send({"path": websocket.path, "origin": websocket.origin,
                    "user": str(request.user), "method": request.method})


@require_websocket
def tcp_nodelay(request):
    """Whether Nagle's algorithm is off on this connection's socket (1) or on (0)."""
    import socket

    sock = request.websocket._link.sock  # the accepted socket itself, for this test only
    request.websocket.send(str(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))


def greenlets(request):
    """How many greenlets and WebSocket objects this process holds."""
    import gc

    import greenlet

    from django_ws.connection import WebSocket, open_connections

    gc.collect()
    # type(), not isinstance(): a lazy object's __class__ may run code.
    types = [type(o) for o in gc.get_objects()]
    return JsonResponse({
        "greenlets": sum(issubclass(t, greenlet.greenlet) for t in types),
        "websockets": sum(t is WebSocket for t in types),
        "open": len(open_connections),
    })


@accept_websocket
def resolver_tried(request):
    """Says how many URL patterns Django's match still lists as tried."""
    request.websocket.send(str(len(request.resolver_match.tried)))
