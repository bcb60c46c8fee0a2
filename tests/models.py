from django.db import models


class Note(models.Model):
    """Written by a WebSocket view, to show the ORM works there."""

    text = models.CharField(max_length=200)
