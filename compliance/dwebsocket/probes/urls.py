"""One URL per probe view (``django.urls.path``: Django 3.0 to 5.x)."""

from django.urls import path

from . import probes

NAMES = [
    "received", "send_kinds", "iteration", "wait_close", "wait_timeout", "read_fallback",
    "count_messages", "has_messages", "poll_close", "count_close", "after_close_marker",
    "client_ping", "fragmented", "large", "is_closed", "send_after_client_close",
    "send_after_close", "close_code_reason", "close_default", "view_returns", "view_raises",
    "register", "early_accept", "plain_http", "required", "flagged", "flagged_required",
    "undecorated", "undecorated_echo",
]

urlpatterns = [
    path("results/<str:key>/", probes.results),
    path("release/<str:key>/", probes.release),
    path("push/<str:key>/", probes.push),
    *(path(f"{name}/", getattr(probes, name)) for name in NAMES),
]
