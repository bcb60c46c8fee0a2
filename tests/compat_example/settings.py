"""The settings dwebsocket's example project needs, on django_ws.

The example (``examples/`` in dwebsocket 0.5.12) lists no WebSocket
middleware and uses only the decorator; ``django_ws`` is installed for
``runws``.
"""

import os

SECRET_KEY = "dwebsocket-example-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django_ws"]
MIDDLEWARE = []
ROOT_URLCONF = "tests.compat_example.urls"
DATABASES = {}
USE_TZ = True
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [os.path.join(os.path.dirname(__file__), "templates")],
}]
