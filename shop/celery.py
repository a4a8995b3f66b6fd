"""The Celery app. Workers run the same drain code as the in-process dispatcher.

Redis only rings the bell: tasks carry a subscription name and a partition, never a
payload, and all delivery state lives in the database.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.production")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
