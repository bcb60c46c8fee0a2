import os

from django.urls import path

from . import views

# S4 measures the class view; BENCH_DJWS_BCAST=function (the django_ws_fn
# server) serves the same member as a function view.
bcast = views.bcast if os.environ.get("BENCH_DJWS_BCAST") == "function" else views.Bcast.as_view()
# BENCH_DJWS_ECHO=class (the django_ws_cls server): the echo as a class view.
echo = views.Echo.as_view() if os.environ.get("BENCH_DJWS_ECHO") == "class" else views.echo

urlpatterns = [
    path("ws/echo/", echo),
    path("ws/bcast/", bcast),
    path("broadcast/", views.broadcast),
]

# BENCH_DJWS_METRICS=<token> (bench/studies/metrics_cost.py): the Prometheus view too.
if os.environ.get("BENCH_DJWS_METRICS"):
    from django_ws.metrics import metrics_view

    urlpatterns.append(path("metrics/", metrics_view))
