"""WSGI entry for gunicorn and runserver.

When the in-process dispatcher is configured, the serving process starts it here: its
threads deliver messages and its sweep finds work left from before a restart.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.production")

application = get_wsgi_application()

from events.dispatch import start_embedded_dispatcher  # noqa: E402  (needs apps loaded)

start_embedded_dispatcher()
