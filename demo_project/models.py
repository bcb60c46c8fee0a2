from django.db import models


class ChatMessage(models.Model):
    """A chat line, kept so that a newcomer sees the recent history."""

    room = models.CharField(max_length=64, db_index=True)
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]
