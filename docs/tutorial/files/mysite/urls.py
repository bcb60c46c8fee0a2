from django.urls import path

from chat import views

urlpatterns = [
    path("echo/", views.echo, name="echo"),
    path("room/<str:name>/", views.room, name="room"),
]
