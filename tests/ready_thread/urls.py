from django.http import JsonResponse
from django.urls import path

from tests.ready_thread.apps import TICKS


def ticks(request):
    return JsonResponse({"ticks": len(TICKS)})


urlpatterns = [path("ticks/", ticks)]
