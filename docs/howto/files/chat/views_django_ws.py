# After: a django_ws view (chat/views.py); no consumer, routing or channel layer.
import json

from django_ws.decorators import login_required, require_websocket
from django_ws.groups import broadcast


@login_required              # 401 before the handshake, which a client can act on
@require_websocket
def chat(request, room):
    group = f"chat_{room}"
    request.websocket.join(group)            # left when the connection closes
    for message in request.websocket:
        text = json.loads(message)["text"]
        broadcast(group, {"text": text, "user": request.user.username})
