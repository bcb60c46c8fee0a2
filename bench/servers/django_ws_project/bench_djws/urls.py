from django.urls import path

from . import views

urlpatterns = [
    path("ws/echo/", views.echo),
    path("ws/bcast/", views.bcast),
    path("broadcast/", views.broadcast),
]
