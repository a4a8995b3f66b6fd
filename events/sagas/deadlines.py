"""Saga steps past their deadline count as failed; undos past theirs need a person.

Called by the in-process dispatcher's sweep and by Celery beat
(``events.expire_sagas``).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from ..log.context import correlation_scope
from ..log.outbox import publish
from ..log.unit import unit_of_work
from ..models import SagaInstance
from . import engine
from .registry import declared

Status = SagaInstance.Status


def expire_overdue(*, now: datetime | None = None) -> int:
    """Treat every saga step past its deadline as failed (tests pass a controllable
    ``now``). One short unit of work per instance."""
    now = now or timezone.now()
    overdue = SagaInstance.objects.filter(
        deadline__lt=now, status__in=[Status.RUNNING, Status.COMPENSATING]
    ).values_list("id", flat=True)
    expired = 0
    for instance_id in list(overdue):
        with unit_of_work():
            instance = (
                SagaInstance.objects.select_for_update()
                .filter(id=instance_id, deadline__lt=now)
                .first()
            )
            saga = declared(instance.saga) if instance else None
            if instance is None or saga is None:
                continue
            with correlation_scope(instance.correlation_id):
                engine.expire(saga, instance, publish)
            expired += 1
    return expired
