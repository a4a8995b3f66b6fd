"""The transitions of a saga instance, published as events (topic ``sagas``, keyed by
the instance's correlation value) with the correlation id of the business transaction:
what an operator traces and what alerts react to.

Each is written by the saga itself, in the transaction of the message that moved it,
so it took effect when it was written: :func:`describe` says what it records, for the
causation trace (``events.ops.causation``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..messages import Event, message


class SagaTransition(Event):
    saga: str
    key: str
    step: str = ""
    reason: str = ""  # in words people read
    code: str = ""  # the reason's stable machine code


@message("sagas.SagaStarted", topic="sagas", key="key")
class SagaStarted(SagaTransition):
    pass


@message("sagas.SagaStepCompleted", topic="sagas", key="key")
class SagaStepCompleted(SagaTransition):
    pass


@message("sagas.SagaStepFailed", topic="sagas", key="key")
class SagaStepFailed(SagaTransition):
    pass


@message("sagas.SagaCancelled", topic="sagas", key="key")
class SagaCancelled(SagaTransition):
    pass


@message("sagas.SagaCompensating", topic="sagas", key="key")
class SagaCompensating(SagaTransition):
    pass


@message("sagas.SagaCompleted", topic="sagas", key="key")
class SagaCompleted(SagaTransition):
    pass


@message("sagas.SagaCompensated", topic="sagas", key="key")
class SagaCompensated(SagaTransition):
    pass


@message("sagas.SagaNeedsIntervention", topic="sagas", key="key")
class SagaNeedsIntervention(SagaTransition):
    pass


# What each transition says happened to the instance ({step}: the step's name).
_WORDS = {
    SagaStarted.wire_name: "started",
    SagaStepCompleted.wire_name: "step {step} done",
    SagaStepFailed.wire_name: "step {step} failed",
    SagaCancelled.wire_name: "cancelled",
    SagaCompensating.wire_name: "compensating",
    SagaCompleted.wire_name: "completed",
    SagaCompensated.wire_name: "compensated",
    SagaNeedsIntervention.wire_name: "needs a person at step {step}",
}


def describe(type_name: str, payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """The saga and, in words, the change a transition message records
    (``("orders.fulfilment", "step ChargePayment failed: card declined")``); None
    for a message that is not a transition. Reads the stored payload as it is: a
    trace shows what was written, whatever the code reads now."""
    words = _WORDS.get(type_name)
    if words is None:
        return None
    saga = str(payload.get("saga", ""))
    said = words.format(step=payload.get("step") or "?")
    reason = str(payload.get("reason") or "")
    if reason.startswith(f"{said}:"):  # it says so already ("cancelled: <why>")
        return saga, reason
    return saga, f"{said}: {reason}" if reason else said
