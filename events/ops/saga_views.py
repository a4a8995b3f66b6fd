"""A saga instance as staff read it: its steps by name, its state as fields, and its
timeline, told from the messages of its key.

The instance row says where the saga is now (a step index, a status, one deadline);
the log says how it got there. Each step shows the command sent and when, the answer
(done or failed) and when, its deadline, and its compensation: the undo sent and its
confirmation. The timeline lists every message of the saga in the order written: its
start, the commands it sent (with each reader's receipt: handled, retrying, parked as
a dead letter...), the replies, and its own transitions (``sagas.*``). Messages come
from the causation trace of the instance's key (``events.ops.causation``), so a
cancellation sent in another request is in it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.utils import timezone

from ..models import SagaInstance
from ..sagas.declaration import Saga
from ..sagas.engine import GAVE_UP
from ..sagas.registry import declared
from . import causation
from .causation import Node, Receipt, Trace

Status = SagaInstance.Status
ENDED = (Status.COMPLETED, Status.COMPENSATED, Status.RESOLVED)


@dataclass(frozen=True)
class Moment:
    """One message of the saga's timeline."""

    at: datetime
    role: str  # started, sent, done, failed, undo, undone, ending, transition
    step: str  # the step's name, or ""
    type: str
    message_id: UUID
    details: str  # the payload without the saga's key, compact
    receipts: tuple[Receipt, ...] = ()


@dataclass
class StepView:
    index: int
    name: str
    command: str
    within: timedelta
    sent: Moment | None = None
    sent_again: int = 0
    answer: Moment | None = None
    failed_reason: str = ""  # from SagaStepFailed: a failed answer, or no answer
    undo_command: str = ""
    undo: Moment | None = None
    undo_sent_again: int = 0
    undone: Moment | None = None
    current: bool = False  # the instance's step now

    @property
    def deadline(self) -> datetime | None:
        return self.sent.at + self.within if self.sent else None

    @property
    def undo_deadline(self) -> datetime | None:
        return self.undo.at + self.within if self.undo else None

    @property
    def late(self) -> bool:
        """Answered after its deadline."""
        return bool(self.answer and self.deadline and self.answer.at > self.deadline)

    @property
    def state(self) -> str:
        if self.undone:
            return "undone"
        if self.undo:
            return "undoing"
        if self.answer and self.answer.role == "done":
            return "done"
        if self.answer:
            return "failed"
        if self.failed_reason:
            return "timed out"
        if self.sent:
            return "in flight" if self.current else "no answer"
        return "not reached"


@dataclass
class SagaView:
    id: int
    saga: str
    key: str
    status: str
    step_index: int
    step_name: str
    reason: str
    deadline: datetime | None
    correlation_id: UUID
    started_at: datetime
    updated_at: datetime
    declared: bool
    fields: list[tuple[str, str]] = field(default_factory=list)
    steps: list[StepView] = field(default_factory=list)
    timeline: list[Moment] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def needs_attention(self) -> bool:
        return self.status == Status.NEEDS_ATTENTION

    @property
    def overdue(self) -> bool:
        return bool(self.deadline and self.deadline < timezone.now())


def listed_step(instance: SagaInstance) -> str:
    """The step a list names for an instance: where it gave up, for one that was
    compensated (its step index walks back to the first as it undoes, so every
    compensated saga read "1."), else where it stands (a compensation in progress or
    stuck: the step being undone)."""
    gave_up = instance.data.get(GAVE_UP) or {}
    compensated = instance.status == SagaInstance.Status.COMPENSATED
    index = gave_up.get("step", instance.step) if compensated else instance.step
    return f"{index + 1}. {step_name(instance.saga, index)}"


def step_name(saga_name: str, index: int) -> str:
    """The name of a saga's step by index (``ChargePayment``), or ``#index``."""
    saga = declared(saga_name)
    if saga is None or not 0 <= index < len(saga.steps):
        return f"#{index}"
    return saga.steps[index].name


def state_fields(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The saga's state as (field, value) rows: nested objects by dotted names,
    lists by index."""
    rows: list[tuple[str, str]] = []
    for name, value in data.items():
        label = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            rows += state_fields(value, f"{label}.")
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) for v in value)
        ):
            for n, item in enumerate(value):
                rows += state_fields(item, f"{label}[{n}].")
        else:
            rows.append((label, _text(value)))
    return rows


def saga_view(instance: SagaInstance, trace: Trace | None = None) -> SagaView:
    """The instance with its steps and timeline (``trace``: its key's causation tree,
    when the caller has it already)."""
    saga = declared(instance.saga)
    view = SagaView(
        id=instance.id,
        saga=instance.saga,
        key=instance.key,
        status=instance.status,
        step_index=instance.step,
        step_name=step_name(instance.saga, instance.step),
        reason=instance.reason,
        deadline=instance.deadline,
        correlation_id=instance.correlation_id,
        started_at=instance.started_at,
        updated_at=instance.updated_at,
        declared=saga is not None,
        fields=state_fields(instance.data),
    )
    if saga is None:
        return view
    if trace is None:
        try:
            trace = causation.trace(instance.key)
        except causation.UnknownTraceTarget:
            return view
    view.steps = [
        StepView(
            index=n,
            name=step.name,
            command=getattr(step.send, "wire_name", step.name),
            within=step.within,
            undo_command=getattr(step.undo, "wire_name", "") if step.undo else "",
            current=n == instance.step and instance.status not in ENDED,
        )
        for n, step in enumerate(saga.steps)
    ]
    roles = _roles(saga)
    for node in _nodes_of(trace, instance):
        moment = _moment(node, saga, roles)
        if moment is not None:
            view.timeline.append(moment)
            _place(view.steps, moment, roles, node)
    return view


def saga_views(key: str, trace: Trace | None = None) -> list[SagaView]:
    """Every saga instance of this key (an order has one fulfilment), oldest first."""
    instances = SagaInstance.objects.filter(key=key).order_by("started_at", "id")
    return [saga_view(instance, trace) for instance in instances]


# --- building --------------------------------------------------------------------


def _roles(saga: type[Saga]) -> dict[str, list[tuple[str, int]]]:
    """Wire name -> the (role, step index) it plays in this saga."""
    roles: dict[str, list[tuple[str, int]]] = {}

    def add(message: type | None, role: str, index: int = -1) -> None:
        name = getattr(message, "wire_name", None) if message else None
        if name:
            roles.setdefault(name, []).append((role, index))

    add(saga.started_by, "started")
    add(saga.cancelled_by, "cancelled")
    add(saga.on_completed, "ending")
    add(saga.on_compensated, "ending")
    for n, step in enumerate(saga.steps):
        add(step.send, "sent", n)
        add(step.done, "done", n)
        for failed in step.failed:
            add(failed, "failed", n)
        add(step.undo, "undo", n)
        add(step.undone, "undone", n)
    return roles


def _nodes_of(trace: Trace, instance: SagaInstance) -> list[Node]:
    nodes = [node for _, node in trace.nodes() if node.envelope.key == instance.key]
    nodes.sort(
        key=lambda n: (n.envelope.recorded_at, n.envelope.partition, n.envelope.offset)
    )
    return nodes


def _moment(
    node: Node, saga: type[Saga], roles: dict[str, list[tuple[str, int]]]
) -> Moment | None:
    envelope = node.envelope
    payload = envelope.payload
    if envelope.type.startswith("sagas."):
        if payload.get("saga") != saga.name:
            return None
        role, step = "transition", str(payload.get("step", ""))
        details = str(payload.get("reason", ""))
    elif envelope.type in roles:
        role, index = roles[envelope.type][0]
        step = saga.steps[index].name if index >= 0 else ""
        details = _details(payload, saga.correlate_on)
    else:
        return None
    return Moment(
        at=envelope.recorded_at,
        role=role,
        step=step,
        type=envelope.type,
        message_id=envelope.message_id,
        details=details,
        receipts=tuple(node.receipts) if role in ("sent", "undo", "ending") else (),
    )


def _place(
    steps: list[StepView],
    moment: Moment,
    roles: dict[str, list[tuple[str, int]]],
    node: Node,
) -> None:
    if moment.type == "sagas.SagaStepFailed":
        for step in steps:
            if step.name == moment.step and not step.failed_reason:
                step.failed_reason = moment.details or "failed"
        return
    for role, index in roles.get(moment.type, []):
        if index < 0:
            continue
        step = steps[index]
        if role == "sent":
            if step.sent is None:
                step.sent = moment
            else:
                step.sent_again += 1
        elif role in ("done", "failed") and step.answer is None and step.sent:
            step.answer = moment
        elif role == "undo":
            if step.undo is None:
                step.undo = moment
            else:
                step.undo_sent_again += 1
        elif role == "undone" and step.undone is None and step.undo:
            step.undone = moment


def _details(payload: dict[str, Any], key_field: str) -> str:
    shown = {k: v for k, v in payload.items() if k != key_field and v not in ("", None)}
    return ", ".join(f"{k}={_text(v)}" for k, v in shown.items())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
