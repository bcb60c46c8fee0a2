# At the end of mysite/settings.py
INSTALLED_APPS += ["chat", "django_ws"]
MIDDLEWARE += ["django_ws.middleware.WebSocketMiddleware"]
