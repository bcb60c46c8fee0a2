"""dwebsocket 0.5.12's API on django_ws: change the imports, nothing else.

``from django_ws.compat.dwebsocket import accept_websocket, require_websocket``
(or from ``.decorators``), and
``django_ws.compat.dwebsocket.middleware.WebSocketMiddleware`` in
``MIDDLEWARE``. ``request.websocket`` is then a
:class:`~django_ws.compat.dwebsocket.websocket.WebSocket`, with dwebsocket's
semantics (bytes messages, a ``None`` for the close, ``send()`` that never
raises...). The deliberate differences are listed in the README's migration
guide, with the setting that changes each.
"""

from __future__ import annotations

from .decorators import accept_websocket, require_websocket

__all__ = ["accept_websocket", "require_websocket"]
