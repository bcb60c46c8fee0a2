"""Tornado-style class views, built on ``request.websocket``::

    class ChatView(WebSocketView):
        subprotocols = ["chat.v1"]

        def open(self):
            self.websocket.join("chat")

        def on_message(self, message):
            self.write_message({"echo": message})

        def on_close(self):
            log.info("closed with %s", self.websocket.close_code)

    urlpatterns = [path("ws/chat/", ChatView.as_view())]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.views import View
from websockets.frames import CloseCode

from .connection import open_connections
from .connection.redaction import redact_target
from .dispatch import check_options, refuse_async, run_websocket_view
from .origin import forbidden_origin, origin_allowed
from .request import VIEW_MARKER, attach_websocket, unserved_upgrade

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket
    from .protocol import Message

__all__ = ["WebSocketView", "connections_view"]


class WebSocketView(View):
    """A class-based WebSocket view with Tornado's WebSocketHandler hooks.

    For a WebSocket request: :meth:`check_origin` (False: 403 before the
    101), :meth:`select_subprotocol`, :meth:`open`, then :meth:`on_message`
    for each message, then :meth:`on_close`. :meth:`open` runs before the
    101 is sent (lazy accept): raising ``PermissionDenied`` or ``Http404``
    there gives the client that HTTP status. Plain HTTP requests go to
    :meth:`get` (by default 400, "WebSocket only").

    Class attributes: ``subprotocols`` (offered by the server, in order of
    preference), ``websocket_options`` (per-view limits, as the
    decorators' keyword arguments), ``detached`` and ``threaded``.

    ``threaded = True`` runs :meth:`open` and the hooks on a real OS thread
    (see ``django_ws.threads``), for code that blocks in C; such a view is
    never detached (its thread calls the hooks, as ``detached = False``).
    ``None`` (the default) follows ``WEBSOCKET_THREADED``.

    Detached (the default), the request ends after :meth:`open`, as any
    Django request does: the response goes back through the middleware,
    ``request_finished`` is sent, and the event loop calls
    :meth:`on_message` and :meth:`on_close` later, each burst of messages
    on a greenlet lent for it (see ``WebSocket.detach``). An idle
    connection then holds no greenlet: about 18 KiB less. With
    ``detached = False`` the view's greenlet stays inside the middleware
    chain for the connection's life and calls the hooks itself, as a
    function view does: for hooks that need what a middleware set up
    around the view (a thread-local, an open transaction).
    """

    subprotocols: ClassVar[Sequence[str] | None] = None
    websocket_options: ClassVar[dict[str, Any]] = {}
    detached: ClassVar[bool] = True
    threaded: ClassVar[bool | None] = None

    websocket: WebSocket

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        check_options(cls.websocket_options, cls.__qualname__)
        for hook in ("get", "open", "on_message", "on_close"):
            refuse_async(getattr(cls, hook), f"{cls.__qualname__}.as_view()")
        view = super().as_view(**initkwargs)
        setattr(view, VIEW_MARKER, True)  # the middleware lets it accept WebSockets
        return view

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        websocket = attach_websocket(request)
        if websocket is None:
            refusal = unserved_upgrade(request)
            if refusal is not None:
                return refusal
            return super().dispatch(request, *args, **kwargs)
        # Asked only of a handshake with an Origin, as Tornado does: a ported
        # check_origin may well do origin.startswith(...). A client without
        # one is no browser, and has no cookies of the user to abuse.
        origin = request.META.get("HTTP_ORIGIN")  # not .headers: see origin.py
        if origin is not None and not self.check_origin(origin):
            return forbidden_origin(request)
        options = self.websocket_options
        if self._threaded():
            import gevent

            from .threads import ThreadedWebSocket

            options = {**options, "threaded": True}
            self.websocket = ThreadedWebSocket(websocket, gevent.get_hub())  # type: ignore[assignment]
        else:
            self.websocket = websocket
        return run_websocket_view(request, websocket, options, self._serve)

    def _threaded(self) -> bool:
        if self.threaded is not None:
            return self.threaded
        from .conf import settings

        return settings.THREADED

    def _serve(self) -> HttpResponseBase | None:
        websocket = self.websocket
        chosen = self.select_subprotocol(websocket.subprotocols)
        if chosen is not None:
            # Agreed before open(), which may already send (and so accept).
            websocket.configure(subprotocols=[chosen])
        response = self.open()
        if response is not None and not websocket.accepted:
            return response  # open() answered in HTTP: no WebSocket
        websocket.accept()
        if self.detached and not self._threaded():
            websocket.detach(self)  # on_message/on_close are called after we return
            return None
        try:
            for message in websocket:
                self.on_message(message)
        finally:
            self.on_close()
        return None

    # -- hooks -----------------------------------------------------------------

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """A plain HTTP GET; override to render a page."""
        return HttpResponseBadRequest("This URL only speaks WebSocket.", content_type="text/plain")

    def check_origin(self, origin: str) -> bool:
        """Whether a handshake from ``origin`` may open a WebSocket.

        Called only when the handshake carries an ``Origin`` header (browsers
        always send one), as Tornado's ``WebSocketHandler.check_origin`` is: a
        non-browser client without one is let through. The default allows
        the request's own host and ``WEBSOCKET_ALLOWED_ORIGINS`` (see
        ``django_ws.origin``).
        """
        return origin_allowed(self.request)

    def select_subprotocol(self, subprotocols: Sequence[str]) -> str | None:
        """Pick one of the client's ``subprotocols``, or None for none.

        The default picks the first of the class's ``subprotocols`` that the
        client offered.
        """
        for subprotocol in self.subprotocols or ():
            if subprotocol in subprotocols:
                return subprotocol
        return None

    def open(self) -> HttpResponseBase | None:
        """Called for a new connection, before the 101 is sent.

        Return an ``HttpResponse`` (or raise ``PermissionDenied``/``Http404``)
        to refuse the handshake with that status.
        """
        return None

    def on_message(self, message: Message) -> None:
        """Called for each message: ``str`` for text, ``bytes`` for binary."""

    def on_close(self) -> None:
        """Called once the connection is closed (``self.websocket.close_code``)."""

    # -- Tornado's names -------------------------------------------------------

    def write_message(self, message: Any, binary: bool = False) -> None:
        """Send a message (a dict or list as JSON), as ``WebSocket.send()``."""
        self.websocket.send(message, binary=binary)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection, as ``WebSocket.close()``."""
        self.websocket.close(code, reason)


def connections_view(request: HttpRequest) -> HttpResponse:
    """This process's open WebSocket connections, as JSON; staff only.

    ``path("admin/websockets/", connections_view)`` in a URLconf. Each server
    process answers for its own connections.
    """
    import os
    import time

    from django.http import JsonResponse

    user = getattr(request, "user", None)
    if user is None or not user.is_staff:
        return HttpResponse("Staff only.", status=403, content_type="text/plain")
    now = time.monotonic()
    connections = [
        {
            "path": redact_target(websocket.path),  # no token from a query string
            "user": websocket.user_label,
            "seconds": round(now - (websocket.opened_at or now), 3),
            "messages_in": websocket.messages_in,
            "messages_out": websocket.messages_out,
            "groups": websocket.groups,
            "subprotocol": websocket.subprotocol,
        }
        for websocket in list(open_connections)
    ]
    return JsonResponse({"pid": os.getpid(), "count": len(connections),
                         "connections": connections})
