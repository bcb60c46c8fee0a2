"""HTTP broadcast trigger: POST /broadcast/?msg=X -> group_send on the in-memory layer."""

from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .consumers import GROUP


@csrf_exempt
@require_POST
async def broadcast(request: HttpRequest) -> HttpResponse:
    layer = get_channel_layer()
    await layer.group_send(GROUP, {"type": "bench.message", "text": request.GET.get("msg", "")})
    return HttpResponse("ok\n", content_type="text/plain")
