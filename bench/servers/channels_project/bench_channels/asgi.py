"""ASGI entry point shared by the Daphne and uvicorn peers."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_channels.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before the consumers (and auth) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from .consumers import BroadcastConsumer, EchoConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    path("ws/echo/", EchoConsumer.as_asgi()),
                    path("ws/bcast/", BroadcastConsumer.as_asgi()),
                ]
            )
        ),
    }
)
