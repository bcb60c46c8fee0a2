"""WSGI entry point for the django_ws_gunicorn server (gunicorn's worker patches first)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_djws.settings")

application = get_wsgi_application()
