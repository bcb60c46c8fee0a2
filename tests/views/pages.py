"""Pages for the browser tests: the JS client, and scripted envelopes."""

import json

from django.http import HttpResponse

from django_ws.decorators import accept_websocket


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
