"""The scrape endpoint: ``path("metrics/websockets/", django_ws.metrics.metrics_view)``."""

from __future__ import annotations

import hmac

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from ..conf import settings

__all__ = ["metrics_view"]

_CHALLENGE = 'Bearer realm="django_ws metrics"'


def _bearer_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    # Constant time: the comparison must not tell how much of a guess was right.
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """django_ws's metrics in Prometheus' text format.

    Open to requests with ``Authorization: Bearer <WEBSOCKET_METRICS_TOKEN>``
    (how Prometheus scrapes: ``authorization: {credentials: ...}`` in its
    scrape config) and to staff users; others get 401 (no or a wrong token,
    anonymous) or 403 (signed in, not staff). Under
    ``PROMETHEUS_MULTIPROC_DIR`` the answer sums every process of the
    directory, each as of its last copy (see ``django_ws.metrics.multiprocess``).

    Raises:
        ImproperlyConfigured: prometheus_client is not installed (check
            ``django_ws.E014`` says so first).
    """
    if not _bearer_ok(request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            response = HttpResponse(
                "Authentication required.", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = _CHALLENGE
            return response
        if not user.is_staff:
            return HttpResponse("Staff only.", status=403, content_type="text/plain")
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    except ImportError as exc:
        raise ImproperlyConfigured(
            "django_ws.metrics.metrics_view needs prometheus_client: "
            "pip install 'django-websocket-views[metrics]' (django_ws.E014)"
        ) from exc
    from . import multiprocess

    registry = CollectorRegistry()
    if multiprocess.enabled():
        from prometheus_client.multiprocess import MultiProcessCollector

        multiprocess.sync()  # this process's part, fresh
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from .collector import DjangoWsCollector

        registry.register(DjangoWsCollector())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
