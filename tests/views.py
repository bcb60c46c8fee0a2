"""Views the live tests drive, each showing one behaviour.

What a view observes server-side is stored in ``PROBES`` and read back over
HTTP from ``/probe/<key>/``, so tests can check what the view saw.
"""

import json
import time
from array import array

import gevent
import gevent.event
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse

from django_ws import ConnectionClosed
from django_ws.decorators import accept_websocket, require_websocket

from .models import Note

PROBES: dict[str, object] = {}


def probe(request, key):
    return JsonResponse({"value": PROBES.get(key)})


@accept_websocket
def echo(request):
    if not request.is_websocket():
        return HttpResponse("echo page")
    for message in request.websocket:
        request.websocket.send(message)


@accept_websocket(max_connections_per_user=1)
def one_per_user(request):
    """An echo counted on its own: one connection per user (WEBSOCKET_MAX_CONNECTIONS_PER_USER
    does not count it)."""
    for message in request.websocket:
        request.websocket.send(message)


@accept_websocket
def answers_in_http(request):
    """Refuses every handshake in HTTP: a counted slot must be given back at once."""
    return HttpResponse("not now", status=409, content_type="text/plain")


# No compression: the echoes of the messages within the limit then go out
# before the held close frame (see connection/holding.py).
@require_websocket(message_rate=1, message_burst=3, rate_limit_close=True, compression=None)
def rate_limited(request):
    for message in request.websocket:
        request.websocket.send(message)


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
def orm(request):
    for text in request.websocket:
        Note.objects.create(text=text)
        request.websocket.send(str(Note.objects.filter(text=text).count()))


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


@accept_websocket(max_message_size=10, compression=None)
def small(request):
    for message in request.websocket:
        request.websocket.send(message)


@accept_websocket
def group_member(request, group):
    """Joins ``group`` (``?latest=1``: with the newest message first); says
    "joined"; "leave" leaves it; echoes the rest."""
    websocket = request.websocket
    websocket.join(group, latest="latest" in request.GET)
    websocket.send("joined")
    for message in websocket:
        if message == "leave":
            websocket.leave(group)
            websocket.send("left")
        else:
            websocket.send(f"echo:{message}")


def group_broadcast(request, group):
    """Plain HTTP view: broadcast the query's message (or JSON) to ``group``."""
    from django_ws import groups

    if "json" in request.GET:
        groups.broadcast(group, json.loads(request.GET["json"]))
    elif "binary" in request.GET:
        groups.broadcast(group, request.GET["binary"].encode(), binary=True)
    else:
        repeat = int(request.GET.get("repeat", "1"))
        position = groups.broadcast(group, request.GET.get("message", "") * repeat)
        return JsonResponse({"local_members": groups.count(group), "position": position})
    return JsonResponse({"local_members": groups.count(group)})


@accept_websocket
def group_envelope_member(request, group):
    """Joins ``group`` for envelopes: ``?recover=1``, ``?since=P``, ``?presence=<name>``,
    ``?latest=1``.

    No "joined": the first envelope says it. "leave" leaves; echoes the rest.
    """
    websocket = request.websocket
    presence = {"name": request.GET["presence"]} if "presence" in request.GET else None
    websocket.join(group, recover="recover" in request.GET, since=request.GET.get("since"),
                   presence=presence, latest="latest" in request.GET)
    for message in websocket:
        if message == "leave":
            websocket.leave(group)
            websocket.send("left")
        else:
            websocket.send(f"echo:{message}")


@accept_websocket
def group_recover_member(request, group):
    """Joins ``group`` with ``recover=True``, reading no query string: the
    plain member's twin in bench/studies/recovery.py's memory figure (B4), where
    parsing ``request.GET`` alone would cost each member about 0.75 KiB."""
    websocket = request.websocket
    websocket.join(group, recover=True)
    for message in websocket:
        websocket.send(f"echo:{message}")


def group_state(request, group):
    """Plain HTTP view: the group's history (``?since=``, ``?limit=``) and presence."""
    from django_ws import groups

    limit = int(request.GET["limit"]) if "limit" in request.GET else None
    history = groups.history(group, since=request.GET.get("since"), limit=limit)
    return JsonResponse({
        "history": [[position, message] for position, message in history],
        "presence": groups.presence(group),
    })


# -- class views and auth ------------------------------------------------------

from django.contrib.auth import login as auth_login  # noqa: E402
from django.contrib.auth.models import Permission, User  # noqa: E402

from django_ws.decorators import login_required, permission_required  # noqa: E402
from django_ws.views import WebSocketView  # noqa: E402


class GroupMemberView(WebSocketView):
    """A detached group member, plain (``recover = False``) or for envelopes:
    bench/studies/recovery.py's memory figure (B4) for class views."""

    recover = False

    def open(self):
        group = self.kwargs["group"]
        if self.recover:
            self.websocket.join(group, recover=True)  # the first envelope says it
        else:
            self.websocket.join(group)
            self.write_message("joined")


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


def test_login(request):
    """Test-only: log in as ``?user=`` (created if needed), perms from ``?perm=``."""
    user, _ = User.objects.get_or_create(username=request.GET["user"])
    if request.GET.get("staff"):
        user.is_staff = True
        user.save()
    for codename in request.GET.getlist("perm"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    auth_login(request, user)
    return HttpResponse("logged in")


@login_required
@accept_websocket
def private(request):
    if not request.is_websocket():
        return HttpResponse("private page")
    request.websocket.send(f"hello {request.user.username}")


@accept_websocket
@permission_required("auth.view_user")
def staff_only(request):
    request.websocket.send("you may view users")


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


def js_client_page(request):
    """A page running django_ws/websocket.js against ``close-with``, or ``?path=``."""
    from pathlib import Path

    import django_ws

    script = (Path(django_ws.__file__).parent / "static" / "django_ws" / "websocket.js").read_text(
        encoding="utf-8"
    ).replace("</", "<\\/")  # inline: its comment's "</script>" would end the element
    code = int(request.GET.get("code", "1000"))
    path = json.dumps(request.GET.get("path", f"/close-with/?code={code}&key=js"))
    return HttpResponse(f"""<!doctype html><html><body><script>{script}</script><script>
      window.events = [];
      const socket = new DjangoWebSocket({path.replace("<", "")},
                                         {{minDelay: 50, maxDelay: 100}});
      socket.addEventListener("open", () => window.events.push("open"));
      socket.addEventListener("close", (e) => window.events.push(
        "close " + e.code + " " + e.willRetry));
    </script></body></html>""")


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


# The README's two token patterns, as written there ("Authentication").
from django.core.signing import BadSignature, TimestampSigner  # noqa: E402

signer = TimestampSigner(sep=".", salt="chat.websocket-token")


@accept_websocket
def token_feed(request):
    offered = [p for p in request.websocket.subprotocols if p.startswith("token.")]
    try:
        user_id = signer.unsign(offered[0].removeprefix("token."), max_age=300)
    except (IndexError, BadSignature):
        raise PermissionDenied from None  # 403 before the 101
    request.websocket.accept(offered[0])
    request.websocket.send(f"user {user_id}")


@accept_websocket
def token_inbox(request):
    try:
        token = request.websocket.wait(timeout=10)  # str, bytes, or None (closed)
        if not isinstance(token, str):
            raise BadSignature("the first message is not a text token")
        user_id = signer.unsign(token, max_age=300)
    except (BadSignature, TimeoutError):
        request.websocket.close(1008, "authentication failed")
        return
    request.websocket.send(f"user {user_id}")


#: What a user could ask a relaying view to send: a fake message far ahead.
FORGED_ENVELOPE = '{"group":"g","position":"e-999","data":"forged"}'


@accept_websocket
def envelope_script(request):
    """Scripted envelopes for the JS client: duplicates, bytes, presence, a restart.

    The envelopes go out as the groups engine sends them (``deliver()``);
    ``send()`` of the same text is a plain message, never read as one (the
    forgery a view relaying a user's text would let through). The first
    connection ends with 1012 (restart); the reconnection first says which
    positions the client sent back (a plain message), then recovers.
    """
    websocket = request.websocket
    websocket.accept()  # deliver() sends on an open connection only

    def envelope(frame):
        websocket.deliver(None, json.dumps(frame, separators=(",", ":")).encode(), text=True)

    since = request.GET.get("django_ws_since")
    if since is None:
        for frame in (
            {"group": "g", "recovered": False, "position": "e-0"},
            {"group": "g", "position": "e-0", "data": {"text": "zero"}, "latest": True},
            {"group": "g", "position": "e-1", "data": {"text": "one"}},
            {"group": "g", "position": "e-1", "data": {"text": "one"}},
            {"group": "g", "position": "e-2", "bytes": "AP8="},
            {"group": "g", "presence": "join", "info": {"name": "alice"}},
        ):
            envelope(frame)
        websocket.send(FORGED_ENVELOPE)  # relayed text: a plain message
        websocket.send("plain")
        websocket.close(1012)
        return
    websocket.send(json.dumps({"since": json.loads(since)}))
    for frame in (
        {"group": "g", "recovered": True, "position": "e-3"},
        {"group": "g", "position": "e-2", "bytes": "AP8="},
        {"group": "g", "position": "e-3", "data": {"text": "three"}},
    ):
        envelope(frame)
    for _ in websocket:
        pass


def js_envelopes_page(request):
    """A page running django_ws/websocket.js with envelopes against ``envelope-script``."""
    from pathlib import Path

    import django_ws

    script = (Path(django_ws.__file__).parent / "static" / "django_ws" / "websocket.js").read_text(
        encoding="utf-8"
    ).replace("</", "<\\/")  # inline: its comment's "</script>" would end the element
    return HttpResponse(f"""<!doctype html><html><body><script>{script}</script><script>
      window.events = [];
      const socket = new DjangoWebSocket("/envelope-script/",
                                         {{envelopes: true, minDelay: 50, maxDelay: 100}});
      const show = (data) => data instanceof Uint8Array ? "bytes " + Array.from(data)
                                                         : JSON.stringify(data);
      socket.addEventListener("message", (e) => window.events.push(
        "message " + e.group + " " + e.position + " " + show(e.data)
        + (e.latest ? " latest" : "")));
      socket.addEventListener("recovered", (e) => window.events.push(
        "recovered " + e.group + " " + e.recovered + " " + e.position));
      socket.addEventListener("presence", (e) => window.events.push(
        "presence " + e.group + " " + e.presence + " " + e.info.name));
    </script></body></html>""")


@accept_websocket
def resolver_tried(request):
    """Says how many URL patterns Django's match still lists as tried."""
    request.websocket.send(str(len(request.resolver_match.tried)))


# dwebsocket habits, through the compat layer with imports changed only
# (issue 22): a poll that never waits, and flask-sock's README loop.
from django_ws.compat.dwebsocket import accept_websocket as compat_accept_websocket  # noqa: E402


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
