"""Group members and the plain HTTP views that broadcast and inspect groups."""

import json

from django.http import JsonResponse

from django_ws.decorators import accept_websocket
from django_ws.views import WebSocketView


def _serve_member(websocket, group):
    """Until the close: "leave" leaves ``group`` (and says "left"); the rest is echoed."""
    for message in websocket:
        if message == "leave":
            websocket.leave(group)
            websocket.send("left")
        else:
            websocket.send(f"echo:{message}")


@accept_websocket
def group_member(request, group):
    """Joins ``group`` (``?latest=1``: with the newest message first); says
    "joined"; "leave" leaves it; echoes the rest."""
    websocket = request.websocket
    websocket.join(group, latest="latest" in request.GET)
    websocket.send("joined")
    _serve_member(websocket, group)


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
    _serve_member(websocket, group)


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
