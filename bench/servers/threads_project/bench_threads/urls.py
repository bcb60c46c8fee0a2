from django.urls import path

from . import views

urlpatterns = [
    path("ws/echo/", views.echo),
    path("ws/echo-threaded/", views.echo_threaded),
    path("ws/block/", views.block),
    path("ws/block-threaded/", views.block_threaded),
]
