"""The Celery app. Workers run the same drain code as the in-process dispatcher.

Redis only rings the bell: tasks carry a subscription name and a partition, never a
payload, and all delivery state lives in the database.

Celery configures no logging of its own (a ``setup_logging`` receiver): Django's
``LOGGING`` (``shop/logs.py``) stands, so a worker's lines, Celery's own included, are
rendered like every other process's (JSON lines in production), once.

Tracing (``shop.telemetry``, when ``OTEL_TRACES_EXPORTER`` asks for it) starts in the
process that runs the work: each child of a prefork pool once forked (an exporter's
thread does not survive a fork), the worker's own process for a threads or solo pool.
"""

import os

from celery import Celery
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import setup_logging, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.production")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _keep_django_logging(**_: object) -> None:
    """Connected, so Celery leaves logging as Django's settings configured it."""


@worker_init.connect
def _trace_the_worker(sender: object, **_: object) -> None:
    # Not resolved yet when the signal is sent: a name ("threads") or a class.
    pool = get_implementation(getattr(sender, "pool_cls", "prefork"))
    if not issubclass(pool, PreforkPool):
        from .telemetry import start_tracing

        start_tracing()


@worker_process_init.connect
def _trace_the_child(**_: object) -> None:
    from .telemetry import start_tracing

    start_tracing()
