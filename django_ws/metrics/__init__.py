"""Prometheus metrics of the WebSocket connections (``pip install
'django-websocket-views[metrics]'``).

::

    # urls.py: scraped with Authorization: Bearer <WEBSOCKET_METRICS_TOKEN>, or by staff
    path("metrics/websockets/", django_ws.metrics.metrics_view)

    # or beside django-prometheus' metrics, in its registry (the default one)
    django_ws.metrics.register()

The layout: ``django_ws.connection.counters`` counts, in plain integers (the
connection counts its own messages and bytes); :mod:`.snapshot` adds them up at scrape time;
:mod:`.collector` turns that into Prometheus metric families;
:mod:`.multiprocess` copies it into ``PROMETHEUS_MULTIPROC_DIR`` for
several worker processes; :mod:`.views` serves it. Only the last three import
prometheus_client, when used, and only the view imports Django.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .views import metrics_view

__all__ = ["make_collector", "metrics_view", "register"]

_registered: set[int] = set()


def make_collector() -> Any:
    """A new :class:`~django_ws.metrics.collector.DjangoWsCollector`, for a registry.

    (Not named ``collector``: that is the submodule's name.)
    """
    from .collector import DjangoWsCollector

    return DjangoWsCollector()


def register(registry: Any = None) -> None:
    """Expose django_ws's metrics from ``registry`` (prometheus_client's default).

    For projects that already serve a registry (django-prometheus serves the
    default one): call once, e.g. in an ``AppConfig.ready()``; calling again
    for the same registry does nothing. In multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR``) there is nothing to register: the server
    processes write their counts into that directory, and the
    ``MultiProcessCollector`` that serves it (django-prometheus' does) finds them.
    """
    from . import multiprocess

    if multiprocess.enabled():
        return
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    if id(registry) not in _registered:
        registry.register(make_collector())
        _registered.add(id(registry))


def __getattr__(name: str) -> Any:
    # PEP 562: the view (and Django with it) is imported when a URLconf asks
    # for it, not when the connection core imports the counters.
    if name == "metrics_view":
        from .views import metrics_view

        return metrics_view
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

