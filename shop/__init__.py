"""The shop project: settings, urls, the Celery app and the WSGI entry."""

from .celery import app as celery_app

__all__ = ["celery_app"]
