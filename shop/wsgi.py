"""WSGI entry for gunicorn and runserver.

Tracing starts here when ``OTEL_TRACES_EXPORTER`` asks for it (``shop.telemetry``),
before the application loads its middleware (Django's instrumentation adds one).
When the in-process dispatcher is configured, the serving process starts it here: its
threads deliver messages and its sweep finds work left from before a restart.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.production")

from shop.telemetry import start_tracing  # noqa: E402  (reads the settings)

start_tracing()
application = get_wsgi_application()

from events import start_embedded_dispatcher  # noqa: E402  (needs apps loaded)

start_embedded_dispatcher()
