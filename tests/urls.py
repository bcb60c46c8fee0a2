from django.urls import path

from django_ws.views import connections_view

from . import views

urlpatterns = [
    path("probe/<str:key>/", views.probe),
    path("echo/", views.echo, name="echo"),
    path("only-ws/", views.only_ws),
    path("undecorated/", views.undecorated),
    path("queue/", views.queue),
    path("wait-until-closed/", views.wait_until_closed),
    path("iterate/", views.iterate),
    path("wait-timeout/", views.wait_timeout),
    path("kinds/", views.kinds),
    path("refuse/<int:status>/", views.refuse),
    path("close-with/", views.close_with),
    path("crash/", views.crash),
    path("crash-before-accept/", views.crash_before_accept),
    path("returns/", views.returns_without_closing),
    path("sleepy/", views.sleepy),
    path("orm/", views.orm),
    path("concurrent-senders/", views.concurrent_senders),
    path("subprotocol/", views.subprotocol),
    path("explicit-subprotocol/", views.explicit_subprotocol),
    path("info/", views.info),
    path("flood/", views.flood),
    path("slow-reader/", views.slow_reader),
    path("ticker/", views.ticker),
    path("debug/greenlets/", views.greenlets),
    path("small/", views.small),
    path("js-client/", views.js_client_page),
    path("group/<str:group>/member/", views.group_member),
    path("chat/", views.Chat.as_view()),
    path("db-idle/", views.db_idle),
    path("db-identity/", views.db_identity),
    path("picky-origin/", views.PickyOrigin.as_view()),
    path("test-login/", views.test_login),
    path("admin/websockets/", connections_view),
    path("private/", views.private),
    path("staff-only/", views.staff_only),
    path("group/<str:group>/broadcast/", views.group_broadcast),
]
