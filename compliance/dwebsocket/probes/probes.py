"""Probe views, one per dwebsocket API member and behaviour.

The same code runs on dwebsocket 0.5.12 (Django 3.0, ``runserver``) and on
``django_ws.compat.dwebsocket`` (``runws``); only the import below differs,
chosen by ``DWEBSOCKET_PROBES_LIBRARY``. What a view observes is kept in
``RESULTS`` and read back over HTTP (``/results/<key>/``) by the driver
(``driver.py``), which also records what the client saw. Written for
Python 3.11 and Django 3.0 to 5.x.
"""

import os
import threading
import time

from django.http import HttpResponse, JsonResponse

if os.environ.get("DWEBSOCKET_PROBES_LIBRARY") == "dwebsocket":
    from dwebsocket import accept_websocket, require_websocket
else:
    from django_ws.compat.dwebsocket import accept_websocket, require_websocket

RESULTS = {}
SOCKETS = {}
_events = {}
_lock = threading.Lock()

#: How long a view waits for the driver's go-ahead; the driver is far faster.
PATIENCE = float(os.environ.get("DWEBSOCKET_PROBES_PATIENCE", "20"))


def event(key):
    with _lock:
        return _events.setdefault(key, threading.Event())


def attempt(call, *args):
    """What a call returns, or the name of what it raises, as a string."""
    try:
        return repr(call(*args))
    except Exception as exc:  # the probe records it; it must not end the view
        return "raises " + type(exc).__name__


def results(request, key):
    return JsonResponse({"value": RESULTS.get(key)})


def release(request, key):
    event(key).set()
    return HttpResponse("released")


def record(request, value):
    RESULTS[request.GET["key"]] = value


# -- messages ---------------------------------------------------------------------


@accept_websocket
def received(request):
    """The client sends one text and one binary message."""
    ws = request.websocket
    record(request, [attempt(ws.wait), attempt(ws.wait)])


SEND_KINDS = {
    "ascii_str": "hello",
    "non_ascii_str": "héllo",
    "utf8_bytes": "héllo".encode(),
    "non_utf8_bytes": b"\xff\xfe",
}


@accept_websocket
def send_kinds(request):
    """``send()`` of str (ASCII or not), UTF-8 bytes and bytes that are not UTF-8."""
    request.websocket.send(SEND_KINDS[request.GET["kind"]])
    request.websocket.send("end")


@accept_websocket
def iteration(request):
    """The client sends "a", b"b", then closes: what the for loop yields."""
    record(request, [repr(message) for message in request.websocket])


@accept_websocket
def wait_close(request):
    """The client sends "a" and closes: wait() until None."""
    ws = request.websocket
    record(request, [attempt(ws.wait), attempt(ws.wait)])


@accept_websocket
def wait_timeout(request):
    """wait(timeout) with nothing sent, then with a message on its way."""
    ws = request.websocket
    first = attempt(ws.wait, 0.2)
    ws.send("timed out")
    record(request, [first, attempt(ws.wait, PATIENCE)])


@accept_websocket
def read_fallback(request):
    """read() and read(fallback) with nothing queued."""
    ws = request.websocket
    record(request, [attempt(ws.read, "fallback"), attempt(ws.read)])


@accept_websocket
def count_messages(request):
    """Three messages wait in the socket: count_messages() four times, then read()."""
    ws = request.websocket
    ws.send("ready")
    event(request.GET["key"]).wait(PATIENCE)  # the driver sent all three
    time.sleep(0.1)  # for them to travel on loopback
    counts = [ws.count_messages() for _ in range(4)]
    reads = [attempt(ws.read) for _ in range(4)]
    record(request, {"counts": counts, "reads": reads, "has_after": ws.has_messages()})


@accept_websocket
def has_messages(request):
    """has_messages() before and after a message, then read()."""
    ws = request.websocket
    before = ws.has_messages()
    ws.send("ready")
    for _ in range(int(PATIENCE / 0.01)):
        if ws.has_messages():
            break
        time.sleep(0.01)
    record(request, {"before": before, "after": ws.has_messages(), "read": attempt(ws.read)})


def _poll_until_none(ws):
    seen = []
    for _ in range(int(PATIENCE / 0.01)):
        if ws.has_messages():
            message = ws.read()
            seen.append(repr(message))
            if message is None:
                break
        else:
            time.sleep(0.01)
    return seen


@accept_websocket
def poll_close(request):
    """A has_messages()/read() loop; the client sends "a" and closes."""
    ws = request.websocket
    seen = _poll_until_none(ws)
    record(request, {"seen": seen, "is_closed": ws.is_closed()})


@accept_websocket
def count_close(request):
    """After the client closed: count_messages() counts the close."""
    ws = request.websocket
    ws.send("ready")
    event(request.GET["key"]).wait(PATIENCE)  # the driver closed
    time.sleep(0.1)
    record(request, {"count": ws.count_messages(), "has": ws.has_messages(),
                     "read": attempt(ws.read, "fallback")})


@accept_websocket
def after_close_marker(request):
    """Once the close's None was read: what reading does next."""
    ws = request.websocket
    seen = _poll_until_none(ws)
    # 0.5.12's answers depend on whether the client's end of TCP arrived
    # meanwhile (its close answer came first): give it the time to.
    time.sleep(0.3)
    record(request, {
        "seen": seen, "has_messages": attempt(ws.has_messages),
        "count_messages": attempt(ws.count_messages), "read": attempt(ws.read, "fallback"),
        "wait": attempt(ws.wait, 0.2),
    })


@accept_websocket
def client_ping(request):
    """The client pings, then sends "t": pings are not messages."""
    record(request, attempt(request.websocket.wait))


@accept_websocket
def fragmented(request):
    """The client sends one text message in two fragments."""
    ws = request.websocket
    record(request, [attempt(ws.wait, PATIENCE)])


@accept_websocket
def large(request):
    """The client sends 2 MiB."""
    message = request.websocket.wait()
    record(request, {"length": None if message is None else len(message)})


# -- closed connections --------------------------------------------------------------


@accept_websocket
def is_closed(request):
    """is_closed() while open, after close(); the closed attribute."""
    ws = request.websocket
    before = ws.is_closed()
    ws.close()
    record(request, {"before": before, "after": ws.is_closed(), "closed": ws.closed})


@accept_websocket
def send_after_client_close(request):
    """The client closed; the view sends anyway."""
    ws = request.websocket
    seen = [repr(message) for message in ws]
    time.sleep(0.1)
    record(request, {"seen": seen, "send": attempt(ws.send, "late"),
                     "again": attempt(ws.send, "later"), "is_closed": ws.is_closed()})


@accept_websocket
def send_after_close(request):
    """The view closes, then sends."""
    ws = request.websocket
    ws.close()
    record(request, attempt(ws.send, "after close"))


@accept_websocket
def close_code_reason(request):
    request.websocket.close(4000, b"bye")


@accept_websocket
def close_default(request):
    request.websocket.close()


@accept_websocket
def view_returns(request):
    request.websocket.send("hi")


@accept_websocket
def view_raises(request):
    request.websocket.send("hi")
    raise RuntimeError("raised on purpose by the probe")


@accept_websocket
def register(request):
    """dwebsocket's "dict of sockets": kept for an HTTP view to push to."""
    key = request.GET["key"]
    SOCKETS[key] = request.websocket
    request.websocket.send("registered")
    event(key).wait(PATIENCE)  # until the push is done
    record(request, {"is_closed": request.websocket.is_closed()})


def push(request, key):
    """A plain HTTP view sends to a registered socket whose client left."""
    ws = SOCKETS.pop(key)
    body = attempt(ws.send, "pushed") + " " + attempt(ws.send, "again")
    event(key).set()
    return HttpResponse(body)


# -- the handshake and the view ---------------------------------------------------------


@accept_websocket
def early_accept(request):
    """Blocks before its first send: is the client connected meanwhile?"""
    event(request.GET["key"]).wait(PATIENCE)
    request.websocket.send("after the wait")


@accept_websocket
def plain_http(request):
    """is_websocket() for both kinds of request."""
    if not request.is_websocket():
        return HttpResponse(f"plain {request.is_websocket()!r} {request.websocket!r}")
    request.websocket.send(f"websocket {request.is_websocket()!r}")


@require_websocket
def required(request):
    request.websocket.send("required")


# -- through the middleware (no decorator) ------------------------------------------------


def flagged(request):
    if request.is_websocket():
        request.websocket.send(repr(request.websocket.wait()))
        return HttpResponse()
    return HttpResponse("plain")


flagged.accept_websocket = True


def flagged_required(request):
    return HttpResponse("plain")


flagged_required.accept_websocket = True
flagged_required.require_websocket = True


def undecorated(request):
    return HttpResponse("plain")


def undecorated_echo(request):
    if request.is_websocket():
        request.websocket.send(repr(request.websocket.wait()))
        return HttpResponse()
    return HttpResponse("plain")
