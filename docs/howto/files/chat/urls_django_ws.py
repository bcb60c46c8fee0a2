# After: the view in the URLconf, beside the others (mysite/urls.py).
from django.urls import path

from chat import views

urlpatterns = [
    path("ws/chat/<str:room>/", views.chat, name="chat"),
]
