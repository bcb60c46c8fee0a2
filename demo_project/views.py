"""The demo's views: plain Django views that also speak WebSocket."""

from django.shortcuts import redirect, render

from django_ws.decorators import accept_websocket

from .models import ChatMessage

# Who is in which room, in this process. (The groups API replaces this.)
_rooms: dict[str, set] = {}

HISTORY = 20


def index(request):
    return redirect("echo")


@accept_websocket
def echo(request):
    if not request.is_websocket():  # plain HTTP GET: render the page
        return render(request, "demo/echo.html")
    for message in request.websocket:  # str for text frames, bytes for binary
        request.websocket.send(message)


@accept_websocket
def chat(request, room):
    if not request.is_websocket():
        return render(request, "demo/chat.html", {"room": room})
    websocket = request.websocket
    for line in ChatMessage.objects.filter(room=room).order_by("-created")[:HISTORY][::-1]:
        websocket.send({"text": line.text, "history": True})
    members = _rooms.setdefault(room, set())
    members.add(websocket)
    try:
        for text in websocket:
            if not isinstance(text, str) or not text.strip():
                continue
            text = text[:1000]
            ChatMessage.objects.create(room=room, text=text)
            for member in list(members):
                try:
                    member.send({"text": text})
                except Exception:  # a member that went away meanwhile
                    members.discard(member)
    finally:
        members.discard(websocket)
