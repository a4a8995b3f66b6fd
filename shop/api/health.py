"""Health checks for load balancers and orchestrators.

``/health/live``: the process answers (no I/O: a stuck database must not get a live
process restarted). ``/health/ready``: can this process take orders? The database is
required (every order is a database transaction): without it 503. The cache (rate-limit
counters) and, with the Celery dispatcher, the broker are reported but do not make the
process unready: the rate limiter fails open, and placing an order only writes to the
database (the outbox); workers are woken by a periodic sweep when the broker is back.
So the answer is ``ready``, ``degraded`` (200, something reported down) or ``unready``.
"""

from __future__ import annotations

import logging
from uuid import uuid4

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@require_safe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _cache() -> str:
    key = f"health:{uuid4()}"
    cache.set(key, 1, timeout=5)
    found = cache.get(key)
    cache.delete(key)
    return "ok" if found == 1 else "unavailable"


def _broker() -> str:
    if settings.EVENTS_DISPATCHER != "celery":
        return "not used"
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=1,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    ) as broker:
        broker.ensure_connection(max_retries=0)  # one try: a probe must not hang
    return "ok"


def _probe(name: str, check: object) -> str:
    try:
        return check()  # type: ignore[operator]
    except Exception as error:
        logger.warning("readiness: %s unavailable: %s", name, error)
        return "unavailable"


@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _probe("database", _database),
        "cache": _probe("cache", _cache),
        "broker": _probe("broker", _broker),
    }
    if checks["database"] != "ok":
        status, code = "unready", 503
    elif "unavailable" in checks.values():
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return JsonResponse({"status": status, "checks": checks}, status=code)
