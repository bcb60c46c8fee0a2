"""The demo's views: plain Django views that also speak WebSocket."""

from django.shortcuts import redirect, render

from django_ws.decorators import accept_websocket
from django_ws.groups import broadcast
from django_ws.groups.envelopes import SINCE_PARAMETER

from .models import ChatMessage

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
    group = f"chat.{room}"
    # A reconnecting DjangoWebSocket sends the last position it saw: what it
    # missed meanwhile comes back from the group's history, once, in order.
    resuming = SINCE_PARAMETER in request.GET
    if not resuming:
        send_history(websocket, room)
    recovered = websocket.join(group, recover=True)  # left when the connection closes
    if resuming and not recovered:
        send_history(websocket, room)  # too much missed: the page starts again
    for text in websocket:
        if not isinstance(text, str) or not text.strip():
            continue
        text = text[:1000]
        ChatMessage.objects.create(room=room, text=text)
        broadcast(group, {"text": text})  # every member, in every server process


def send_history(websocket, room):
    for line in ChatMessage.objects.filter(room=room).order_by("-created")[:HISTORY][::-1]:
        websocket.send({"text": line.text, "history": True})
