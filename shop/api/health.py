"""Health checks for load balancers and orchestrators.

``/health/live``: the process answers (no I/O: a stuck database must not get a live
process restarted). ``/health/ready``: can this process take orders? The database is
required (every order is a database transaction): without it 503. The cache (rate-limit
counters) and, with the Celery dispatcher, the broker are reported but do not make the
process unready: the rate limiter fails open, and placing an order only writes to the
database (the outbox); workers are woken by a periodic sweep when the broker is back.
So the answer is ``ready``, ``degraded`` (200, something reported down) or ``unready``.
Ready also reports the consumers (``events.consumer_health``): a stalled subscription
makes it ``degraded``, never unready, since accepting orders does not need them.

``/health/consumers``: are the consumers consuming? For orchestrators and alerting,
not load balancers: 503 when a subscription is stalled (its oldest message not yet
handled is older than ``EVENTS_STALL_SECONDS``, or its own threshold in
``EVENTS_STALL_SECONDS_BY_SUBSCRIPTION``) or, with Celery, when a queue the
subscriptions' drain tasks go to has no live worker (one broadcast, answered within
``EVENTS_WORKER_PING_SECONDS``); 200 when every consumer is consuming.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import uuid4

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from events.ops import consumer_health

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


def _probe(name: str, check: Callable[[], str]) -> str:
    try:
        return check()
    except Exception as error:
        logger.warning("readiness: %s unavailable: %s", name, error)
        return "unavailable"


def _subscriptions() -> list[consumer_health.SubscriptionHealth]:
    return consumer_health.subscription_health(
        thresholds=settings.EVENTS_STALL_SECONDS_BY_SUBSCRIPTION,
        default=settings.EVENTS_STALL_SECONDS,
    )


def _stalled() -> str:
    stalled = [h.subscription for h in _subscriptions() if h.stalled]
    return f"stalled: {', '.join(stalled)}" if stalled else "ok"


@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _probe("database", _database),
        "cache": _probe("cache", _cache),
        "broker": _probe("broker", _broker),
    }
    checks["consumers"] = (
        _probe("consumers", _stalled) if checks["database"] == "ok" else "unknown"
    )
    if checks["database"] != "ok":
        status, code = "unready", 503
    elif any(value != "ok" and value != "not used" for value in checks.values()):
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return JsonResponse({"status": status, "checks": checks}, status=code)


def _queues() -> dict[str, object]:
    """Per expected queue, the live workers consuming it (Celery dispatcher only)."""
    from celery import current_app

    served = consumer_health.live_queues(timeout=settings.EVENTS_WORKER_PING_SECONDS)
    expected = consumer_health.expected_queues(current_app.conf.task_default_queue)
    return {queue: sorted(served.get(queue, [])) for queue in sorted(expected)}


@require_safe
def consumers(request: HttpRequest) -> JsonResponse:
    try:
        health = _subscriptions()
    except Exception as error:
        logger.warning("consumer health: database unavailable: %s", error)
        return JsonResponse({"status": "unavailable"}, status=503)
    subscriptions = {
        h.subscription: {
            "status": "stalled" if h.stalled else "ok",
            "oldest_waiting_seconds": round(h.oldest_waiting_seconds, 1),
            "threshold_seconds": h.threshold_seconds,
            "stalled_partitions": [
                {
                    "partition": s.partition,
                    "waiting_seconds": round(s.waiting_seconds, 1),
                    "last_error": s.last_error[:200],
                }
                for s in h.stalls
            ],
        }
        for h in health
    }
    problems = [f"{h.subscription} stalled" for h in health if h.stalled]
    queues: object = "not used"
    if settings.EVENTS_DISPATCHER == "celery":
        try:
            queues = _queues()
        except Exception as error:
            logger.warning("consumer health: broker unavailable: %s", error)
            queues = "unavailable"
            problems.append("broker unavailable")
        else:
            problems += [f"no worker on queue {q}" for q, w in queues.items() if not w]
    body = {
        "status": "stalled" if problems else "ok",
        "problems": problems,
        "subscriptions": subscriptions,
        "queues": queues,
    }
    return JsonResponse(body, status=503 if problems else 200)
