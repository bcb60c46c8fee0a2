"""django_ws.compat.dwebsocket without a network: the socket adapter on a fake connection,
the decorators and the middleware on plain HTTP requests.

The behaviour against dwebsocket itself is tests/live/test_compat_dwebsocket.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

import django_ws.compat.dwebsocket as compat
from django_ws.compat.dwebsocket.middleware import WebSocketMiddleware
from django_ws.compat.dwebsocket.websocket import WebSocket
from django_ws.exceptions import ConnectionClosed
from django_ws.middleware import VIEW_MARKER
from tests.support.timing import TIMEOUT

factory = RequestFactory()


class FakeConnection:
    """The public API of django_ws.connection.WebSocket that the adapter uses."""

    def __init__(self, messages=(), *, closed=False):
        self.queue = list(messages)
        self.closed = closed
        self.sent = []
        self.closes = []
        self.accepted = False
        self.fail_send = None
        self.path = "/fake/"

    def accept(self):
        self.accepted = True

    def read(self):
        return self.queue.pop(0) if self.queue else None

    def has_messages(self):
        return bool(self.queue)

    def wait(self, timeout=None):
        if self.queue:
            return self.queue.pop(0)
        if self.closed:
            return None
        raise TimeoutError

    def send(self, message):
        if self.fail_send is not None:
            raise self.fail_send
        self.sent.append(message)

    def close(self, code, reason):
        self.closes.append((code, reason))
        self.closed = True


def test_all_is_pinned():
    assert sorted(compat.__all__) == ["accept_websocket", "require_websocket"]
    from django_ws.compat.dwebsocket import decorators

    assert compat.accept_websocket is decorators.accept_websocket


def test_messages_are_bytes_then_one_none_for_the_close():
    websocket = WebSocket(FakeConnection(["text", b"\x00"], closed=True))
    assert list(websocket) == [b"text", b"\x00", None]
    assert websocket.wait() is None and websocket.is_closed()


def test_count_takes_one_more_message_per_call_and_counts_the_close():
    websocket = WebSocket(FakeConnection(["a", "b"], closed=True))
    assert [websocket.count_messages() for _ in range(4)] == [1, 2, 3, 3]
    assert [websocket.read("fb") for _ in range(4)] == [b"a", b"b", None, "fb"]
    assert not websocket.has_messages() and websocket.count_messages() == 0


def test_is_closed_waits_for_unread_messages():
    # The close was seen by the connection, but a message is still unread:
    # as under dwebsocket, the view reads it before it learns of the close.
    connection = FakeConnection(["last"], closed=True)
    websocket = WebSocket(connection)
    assert not websocket.is_closed()
    assert websocket.read() == b"last"
    assert websocket.is_closed() and websocket.read("fb") is None  # the close's None


def test_wait_timeout_returns_none():
    assert WebSocket(FakeConnection()).wait(0.01) is None


def test_send_text_for_str_and_utf8_bytes_binary_otherwise():
    connection = FakeConnection()
    websocket = WebSocket(connection)
    websocket.send("é")
    websocket.send("é".encode())
    websocket.send(bytearray(b"\xff"))
    websocket.send({"a": 1})  # django_ws's JSON
    assert connection.sent == ["é", "é", b"\xff", {"a": 1}]


@pytest.mark.parametrize("error", [ConnectionClosed(1006, ""), TimeoutError()])
def test_send_never_raises_for_a_departed_client(error):
    connection = FakeConnection()
    connection.fail_send = error
    WebSocket(connection).send("x")


def test_send_after_close_does_nothing():
    connection = FakeConnection()
    websocket = WebSocket(connection)
    websocket.close()
    websocket.send("x")
    assert connection.sent == [] and connection.closes == [(1000, "")]


def test_close_takes_bytes_once_and_sets_closed():
    connection = FakeConnection()
    websocket = WebSocket(connection)
    websocket.close(4000, b"bye")
    websocket.close(4001, b"again")
    assert connection.closes == [(4000, b"bye")] and websocket.closed


def test_django_ws_names_come_from_the_connection():
    connection = FakeConnection()
    websocket = WebSocket(connection)
    websocket.accept_connection()
    assert connection.accepted and websocket.path == "/fake/" and websocket.native is connection


@compat.accept_websocket
def page(request):
    return HttpResponse(f"websocket={request.is_websocket()} {request.websocket}")


@compat.require_websocket(max_message_size=10)
def socket_only(request):  # pragma: no cover - never reached over HTTP
    return HttpResponse("unreachable")


def test_decorators_set_dwebsocket_markers_and_ours():
    assert page.accept_websocket is True and page.require_websocket is False
    assert socket_only.require_websocket is True
    assert getattr(page, VIEW_MARKER) is True


def test_decorators_serve_plain_http_as_dwebsocket_did():
    assert page(factory.get("/")).content == b"websocket=False None"
    assert socket_only(factory.get("/")).status_code == 400


def test_decorators_check_option_names():
    with pytest.raises(TypeError, match="max_mesage_size"):
        compat.accept_websocket(max_mesage_size=1)(lambda request: None)


def test_async_views_are_refused_at_import_time():
    async def view(request):  # pragma: no cover - refused before
        pass

    with pytest.raises(TypeError, match="is async"):
        compat.require_websocket(view)


def _middleware_response(view, request):
    middleware = WebSocketMiddleware(lambda request: HttpResponse("from view"))
    middleware(request)  # attaches request.websocket (None: plain HTTP)
    return middleware.process_view(request, view, (), {})


def test_middleware_refuses_plain_http_to_a_required_view():
    def view(request):  # pragma: no cover - refused before
        return HttpResponse()

    view.accept_websocket = view.require_websocket = True
    assert _middleware_response(view, factory.get("/")).status_code == 400


def test_middleware_lets_plain_http_through_to_other_views():
    def view(request):  # pragma: no cover - the handler would call it
        return HttpResponse()

    assert _middleware_response(view, factory.get("/")) is None


def test_dwebsocket_s_default_backend_class_is_importable():
    # Ported annotations and isinstance checks keep dwebsocket's import.
    from django_ws.compat.dwebsocket.backends.default.websocket import DefaultWebSocket

    assert DefaultWebSocket is WebSocket


@pytest.mark.parametrize("installed", [
    ["django_ws.compat.dwebsocket"],  # 'dwebsocket' renamed in place
    ["django_ws", "django_ws.compat.dwebsocket"],
])
def test_the_compat_layer_in_installed_apps_fails_check(installed):
    code = (
        "import django; from django.conf import settings; "
        f"settings.configure(INSTALLED_APPS={installed!r}); django.setup(); "
        "from django.core.management import call_command; call_command('check')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT * 3)
    assert done.returncode != 0
    assert "django_ws.E016" in done.stderr
    assert "Put 'django_ws' in INSTALLED_APPS instead" in done.stderr


def test_the_compat_check_is_quiet_once_the_app_is_gone():
    from django_ws.compat.dwebsocket.apps import check_installed_apps

    assert check_installed_apps() == []
