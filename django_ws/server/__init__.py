"""The server: gevent's pywsgi serving Django, HTTP and WebSocket.

``handler.py`` turns a handshake into a :class:`~django_ws.connection.WebSocket`
and runs the WSGI application; ``wsgi.py`` is runws's server and its
graceful shutdown; ``gunicorn.py`` the gunicorn worker, which does the same
under gunicorn; ``watchdog.py`` watches the event loop; ``middleware_chain.py``
calls Django's middleware without C recursion. The process set-up they share
(monkey-patching, malloc, the open-files limit) is in :mod:`django_ws.process`,
below the Django adapter, which needs it too.
"""
