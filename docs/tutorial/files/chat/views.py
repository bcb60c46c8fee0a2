from django.shortcuts import render

from django_ws.decorators import accept_websocket
from django_ws.groups import broadcast, presence


@accept_websocket
def echo(request):
    if not request.is_websocket():          # plain HTTP GET: render the page
        return render(request, "chat/echo.html")
    for message in request.websocket:        # str for text frames, bytes for binary
        request.websocket.send(message)


@accept_websocket
def room(request, name):
    if not request.is_websocket():
        return render(request, "chat/room.html", {"name": name})
    nickname = request.GET.get("nickname", "guest")[:30]
    group = f"room.{name}"
    # recover: what the page missed while reconnecting comes back from the
    # group's history; presence: the others see this nickname come and go.
    request.websocket.join(group, recover=True, presence={"nickname": nickname})
    # Who is here already (in every server process), as one plain message.
    here = [member["info"]["nickname"] for member in presence(group)]
    request.websocket.send({"here": here})
    for text in request.websocket:
        if isinstance(text, str) and text.strip():
            broadcast(group, {"nickname": nickname, "text": text[:1000]})
