from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("echo/", views.echo, name="echo"),
    path("chat/<slug:room>/", views.chat, name="chat"),
]
