# Before: a Channels consumer (chat/consumers.py), with routing and a channel layer.
import json

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer


class ChatConsumer(WebsocketConsumer):
    def connect(self):
        if not self.scope["user"].is_authenticated:
            self.close()  # the client only sees a failed handshake
            return
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.group = f"chat_{self.room}"
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, code):
        async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def receive(self, text_data=None, bytes_data=None):
        text = json.loads(text_data)["text"]
        async_to_sync(self.channel_layer.group_send)(
            self.group, {"type": "chat.message", "text": text,
                         "user": self.scope["user"].username})

    def chat_message(self, event):
        self.send(text_data=json.dumps({"text": event["text"], "user": event["user"]}))
