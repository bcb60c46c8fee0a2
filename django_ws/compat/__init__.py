"""Compatibility layers: other libraries' APIs on django_ws.

``django_ws.compat.dwebsocket`` gives a dwebsocket (0.5.12) project the API
it was written for: replace ``dwebsocket`` by ``django_ws.compat.dwebsocket``
in its imports and ``MIDDLEWARE``. See the README's migration guide.
"""
