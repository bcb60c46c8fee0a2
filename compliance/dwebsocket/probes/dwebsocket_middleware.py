"""dwebsocket 0.5.12's middleware, made listable in Django 3.0's ``MIDDLEWARE``.

0.5.12's class is old-style (no ``get_response``), which ``MIDDLEWARE`` cannot
take; dwebsocket's master branch later fixed it the same way, by giving it
``MiddlewareMixin``'s constructor. Its ``process_*`` methods run unchanged.
"""

from django.utils.deprecation import MiddlewareMixin
from dwebsocket.middleware import WebSocketMiddleware as OldStyle


class WebSocketMiddleware(MiddlewareMixin, OldStyle):
    pass
