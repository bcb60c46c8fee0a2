"""Decorators and middleware on plain HTTP requests (RequestFactory, no network).

WebSocket requests need the real server and are covered in tests/live/.
"""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from django_ws import accept_websocket, require_websocket
from django_ws.middleware import WebSocketMiddleware

factory = RequestFactory()


@accept_websocket
def page(request):
    return HttpResponse(f"websocket={request.is_websocket()} {request.websocket}")


@require_websocket
def socket_only(request):  # pragma: no cover - never reached over HTTP
    return HttpResponse("unreachable")


def test_accept_websocket_serves_plain_http():
    response = page(factory.get("/"))
    assert response.content == b"websocket=False None"


def test_require_websocket_refuses_plain_http():
    assert socket_only(factory.get("/")).status_code == 400


def test_upgrade_without_our_server_is_explained():
    # runserver cannot hand over the socket: say so instead of a page.
    request = factory.get("/", HTTP_UPGRADE="websocket", HTTP_CONNECTION="Upgrade")
    response = page(request)
    assert response.status_code == 400
    assert b"runws" in response.content


def test_middleware_sets_attributes_for_every_request():
    seen = {}

    def view(request):
        seen["is_websocket"] = request.is_websocket()
        seen["websocket"] = request.websocket
        return HttpResponse()

    WebSocketMiddleware(view)(factory.get("/"))
    assert seen == {"is_websocket": False, "websocket": None}


def test_middleware_leaves_plain_requests_to_undecorated_views():
    request = factory.get("/")
    middleware = WebSocketMiddleware(lambda request: HttpResponse())
    middleware(request)
    assert middleware.process_view(request, lambda request: None, (), {}) is None


def test_decorator_options_are_checked_at_decoration_time():
    with pytest.raises(TypeError, match="max_mesage_size"):
        accept_websocket(max_mesage_size=10)(lambda request: None)


def test_decorator_with_options_serves_plain_http():
    view = accept_websocket(max_message_size=10, subprotocols=["chat"])(
        lambda request: HttpResponse("ok")
    )
    assert view(factory.get("/")).content == b"ok"


def test_decorated_view_keeps_its_name():
    assert page.__name__ == "page"


@pytest.mark.parametrize("decorator", [accept_websocket, require_websocket,
                                       accept_websocket(max_queue=8)])
def test_an_async_view_is_refused_when_decorated(decorator):
    async def feed(request):  # pragma: no cover - never called
        return HttpResponse()

    with pytest.raises(TypeError, match=r"feed: it is async\. django_ws views are sync.*"
                                        r"Write it with `def` instead of `async def`"):
        decorator(feed)


def test_an_async_hook_of_a_class_view_is_refused():
    from django_ws.views import WebSocketView

    class Feed(WebSocketView):
        async def on_message(self, message):  # pragma: no cover - never called
            pass

    with pytest.raises(TypeError, match=r"Feed.as_view\(\) cannot take .*on_message: it is async"):
        Feed.as_view()
