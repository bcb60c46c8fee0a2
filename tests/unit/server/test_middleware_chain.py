"""The middleware chain called without C recursion (django_ws.server.middleware_chain)."""

from __future__ import annotations

import tracemalloc

import gevent
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import path
from gevent.event import Event

from django_ws.server.middleware_chain import shallow_callable, shorten_middleware_chain

factory = RequestFactory()
release = Event()


class Tagging:
    """A plain class middleware (no MiddlewareMixin): tags the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers["X-Tags"] = response.headers.get("X-Tags", "") + "c"
        return response


def function_middleware(get_response):
    def middleware(request):
        response = get_response(request)
        response.headers["X-Tags"] = response.headers.get("X-Tags", "") + "f"
        return response

    return middleware


def view(request):
    return HttpResponse(f"user={request.user.is_authenticated}")


def waiting_view(request):
    release.wait()
    return HttpResponse("done")


urlpatterns = [path("", view), path("wait/", waiting_view)]

# Seven class middleware, as in the benchmark, around a function middleware.
MIDDLEWARE = [
    "tests.unit.server.test_middleware_chain.Tagging",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tests.unit.server.test_middleware_chain.function_middleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tests.unit.server.test_middleware_chain.Tagging",
]


def handler() -> WSGIHandler:
    with override_settings(MIDDLEWARE=MIDDLEWARE, ROOT_URLCONF=__name__):
        return WSGIHandler()


def test_every_class_middleware_is_rewritten_and_still_runs():
    app = handler()
    assert shorten_middleware_chain(app) == 7
    assert shorten_middleware_chain(app) == 0  # already done: nothing left
    with override_settings(ROOT_URLCONF=__name__):
        response = app.get_response(factory.get("/"))
    assert response.content == b"user=False"
    assert response.headers["X-Tags"] == "cfc"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_other_applications_are_left_alone():
    def wsgi_app(environ, start_response):  # pragma: no cover - never called
        return []

    assert shorten_middleware_chain(wsgi_app) == 0
    assert shallow_callable(wsgi_app) is wsgi_app
    app = handler()
    call = shallow_callable(app)
    assert call.__self__ is app and call.__func__ is WSGIHandler.__call__


def saved_stack_per_request(app: WSGIHandler, requests: int = 50) -> float:
    """Heap bytes per greenlet parked inside the view (its saved C stack)."""
    release.clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with override_settings(ROOT_URLCONF=__name__):
            greenlets = [gevent.spawn(app.get_response, factory.get("/wait/"))
                         for _ in range(requests)]
            gevent.sleep(0.05)
            parked = tracemalloc.get_traced_memory()[0] - before
            release.set()
            gevent.joinall(greenlets)
    finally:
        tracemalloc.stop()
    assert all(g.value.content == b"done" for g in greenlets)
    return parked / requests


def test_a_waiting_view_holds_less_memory():
    plain = saved_stack_per_request(handler())
    shortened = handler()
    rewritten = shorten_middleware_chain(shortened)
    # About 0.8 KiB of C stack per middleware call on CPython 3.11; at least
    # half of it must be gone.
    assert saved_stack_per_request(shortened) < plain - rewritten * 400
