"""What views observe server-side, read back by the tests over HTTP."""

from django.http import JsonResponse

PROBES: dict[str, object] = {}


def probe(request, key):
    return JsonResponse({"value": PROBES.get(key)})
