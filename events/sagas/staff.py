"""What staff do with a saga that needs a person: send the undo again, or say it was
settled by hand. From the admin and ``manage.py events sagas``."""

from __future__ import annotations

from collections.abc import Callable

from ..log.context import correlation_scope
from ..log.outbox import publish
from ..log.unit import unit_of_work
from ..models import SagaInstance
from . import engine
from .declaration import Saga
from .registry import declared

Status = SagaInstance.Status


class SagaActionError(ValueError):
    """A staff action on a saga that does not apply (unknown id, wrong status)."""


def retry(instance_id: int) -> SagaInstance:
    """Send the undo that did not confirm again, with a fresh deadline."""

    def compensate_again(saga: type[Saga], instance: SagaInstance) -> None:
        instance.status = Status.COMPENSATING
        engine.compensate_from(saga, instance, instance.step, publish)

    return _staff_action(instance_id, compensate_again)


def resolve(instance_id: int, *, note: str) -> SagaInstance:
    """The saga was settled by hand (say how); nothing more is sent."""

    def settle(saga: type[Saga], instance: SagaInstance) -> None:
        instance.status, instance.deadline = Status.RESOLVED, None
        instance.reason = f"{instance.reason}; resolved by hand: {note}".lstrip("; ")
        instance.save()

    return _staff_action(instance_id, settle)


def _staff_action(
    instance_id: int, action: Callable[[type[Saga], SagaInstance], None]
) -> SagaInstance:
    with unit_of_work():
        instance = (
            SagaInstance.objects.select_for_update().filter(id=instance_id).first()
        )
        if instance is None:
            raise SagaActionError(f"no saga with id {instance_id}")
        if instance.status != Status.NEEDS_ATTENTION:
            raise SagaActionError(
                f"saga {instance_id} is {instance.status}, not needs_attention"
            )
        saga = declared(instance.saga)
        if saga is None:
            raise SagaActionError(f"saga {instance.saga!r} is not declared any more")
        with correlation_scope(instance.correlation_id):
            action(saga, instance)
    return instance
