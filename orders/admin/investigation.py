"""The order investigator: everything orders knows of one order, on one page.

Staff ask "customer X says order Y was charged but never shipped: what happened?".
The answer is drawn from what orders owns and what the platform keeps, nothing else:

* the order's stream (the truth, kept forever): its state now or as of a time, its
  events, where it ships, what was paid and refunded;
* orders' read model (the summary the list shows, and the customer's email);
* the log, through the platform's causation tree of the order's id (``events.trace``):
  every message the order caused, with what each reader did with it, among them the
  charges and refunds payments answered and what shipping said; integration messages
  are pruned after the retention period, so after it those lists hold only what the
  order's own events recorded;
* the order's saga with its steps and timeline, and the order's dead letters, with a
  warning on each that a redrive would come after its saga ended.

A verdict line on top says it in one sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from events import UnknownTraceTarget, console, trace
from payments.contracts import (
    ChargePayment,
    PaymentDeclined,
    PaymentRefunded,
    PaymentSucceeded,
    RefundPayment,
)
from shipping.contracts import (
    CancelShipment,
    CreateShipment,
    DispatchShipment,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentDispatched,
    ShipmentRejected,
)

from .. import queries
from ..domain import OrderNotFoundError
from ..history import order_as_of


@dataclass(frozen=True)
class Fact:
    """A message of another app about this order, in words."""

    at: datetime
    type: str
    text: str
    receipts: tuple[console.Receipt, ...] = ()
    trouble: bool = False


@dataclass(frozen=True)
class ParkedLetter:
    id: int
    type: str
    subscription: str
    error: str
    at: datetime | None
    warning: str  # set when its saga has ended: a redrive would come too late


@dataclass
class Investigation:
    order_id: UUID
    state: dict[str, Any]
    events: list[dict[str, Any]]
    summary: dict[str, Any] | None = None
    customer_email: str | None = None
    as_of: datetime | None = None
    state_as_of: dict[str, Any] | None = None
    as_of_error: str = ""
    trace: console.Trace | None = None
    tree: list[console.TreeRow] = field(default_factory=list)
    sagas: list[console.SagaView] = field(default_factory=list)
    dead_letters: list[ParkedLetter] = field(default_factory=list)
    payments: list[Fact] = field(default_factory=list)
    shipping: list[Fact] = field(default_factory=list)
    verdict: str = ""
    trouble: bool = False

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [
            {**line, "line_total": Decimal(line["unit_price"]) * line["quantity"]}
            for line in self.state["lines"]
        ]

    @property
    def cancellable(self) -> bool:
        """Whether a cancel could still change the order (the domain's rule: not
        closed, not shipped, not being dispatched)."""
        closed = {"rejected", "cancelled", "shipped"}
        return self.state["status"] not in closed and not self.state["dispatching"]

    @property
    def saga(self) -> console.SagaView | None:
        return self.sagas[-1] if self.sagas else None

    def event_time(self, type_name: str) -> datetime | None:
        found = [e["recorded_at"] for e in self.events if e["type"] == type_name]
        return found[-1] if found else None


def investigate(order_id: UUID, *, as_of_text: str = "") -> Investigation:
    """Raises OrderNotFoundError when the order has no stream."""
    state, events = order_as_of(order_id)
    for event in events:
        data = {k: v for k, v in event["data"].items() if k != "order_id"}
        event["data_json"] = json.dumps(data, separators=(", ", ": "))
    found = Investigation(order_id=order_id, state=state, events=events)
    found.summary = queries.order_summary(order_id)
    found.customer_email = queries.customer_email(UUID(state["customer_id"]))
    _as_of(found, as_of_text)
    try:
        found.trace = trace(str(order_id))
    except UnknownTraceTarget:
        found.trace = None
    if found.trace is not None:
        found.tree = console.tree_rows(found.trace)
        found.sagas = console.saga_views(str(order_id), found.trace)
        found.dead_letters = _dead_letters(found.trace)
        found.payments, found.shipping = _facts(found.trace, str(order_id))
    found.verdict, found.trouble = verdict(found)
    return found


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time (the browser's datetime-local gives one), naive meaning the
    server's time zone; a bare date means the end of that day. None: not a time."""
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text)
            if day is not None:
                value = datetime.combine(day, datetime.max.time())
    except ValueError:
        return None
    if value is None:
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _as_of(found: Investigation, text: str) -> None:
    if not text.strip():
        return
    when = parse_time(text.strip())
    if when is None:
        found.as_of_error = f"not a time: {text!r} (e.g. 2026-11-28T14:00)"
        return
    found.as_of = when
    try:
        found.state_as_of, _ = order_as_of(found.order_id, when)
    except OrderNotFoundError:
        found.as_of_error = f"the order did not exist yet at {when:%Y-%m-%d %H:%M:%S}"


def _dead_letters(found: console.Trace) -> list[ParkedLetter]:
    parked = [
        (node, receipt, letter_id)
        for _, node in found.nodes()
        for receipt in node.receipts
        if receipt.state == "parked"
        and (letter_id := receipt.dead_letter_id) is not None
    ]
    late = console.warnings(letter_id for _, _, letter_id in parked)
    return [
        ParkedLetter(
            id=letter_id,
            type=node.envelope.type,
            subscription=receipt.subscription,
            error=receipt.error,
            at=receipt.at,
            warning=late.get(letter_id, ""),
        )
        for node, receipt, letter_id in parked
    ]


def _money(payload: dict[str, Any]) -> str:
    return f"{payload.get('amount', '?')} {payload.get('currency', '')}".strip()


def _payment_text(type_name: str, p: dict[str, Any]) -> str | None:
    if type_name == ChargePayment.wire_name:
        return f"charge of {_money(p)} to {p.get('payment_method')} requested"
    if type_name == PaymentSucceeded.wire_name:
        return f"charged {_money(p)}, reference {p.get('payment_reference')}"
    if type_name == PaymentDeclined.wire_name:
        code = f" ({p['code']})" if p.get("code") else ""
        return f"declined: {p.get('reason')}{code}"
    if type_name == RefundPayment.wire_name:
        return "refund requested"
    if type_name == PaymentRefunded.wire_name:
        if Decimal(str(p.get("amount", "0"))) == 0:
            return "nothing to refund: no successful charge"
        return (
            f"refunded {_money(p)} (charge {p.get('payment_reference')}, refund "
            f"{p.get('refund_reference') or '-'})"
        )
    return None


def _shipping_text(type_name: str, p: dict[str, Any]) -> str | None:
    if type_name == CreateShipment.wire_name:
        where = ", ".join(v for v in (p.get("recipient"), p.get("city")) if v)
        return f"shipment requested{f' for {where}' if where else ''}"
    if type_name == ShipmentCreated.wire_name:
        return f"shipment {p.get('tracking_number')} created"
    if type_name == ShipmentRejected.wire_name:
        return f"shipment refused: {p.get('reason')}"
    if type_name == CancelShipment.wire_name:
        return "cancellation of the shipment requested"
    if type_name == ShipmentCancelled.wire_name:
        return "shipment cancelled (or there was none)"
    if type_name == DispatchShipment.wire_name:
        return "dispatch requested by staff"
    if type_name == ShipmentDispatched.wire_name:
        return f"parcel {p.get('tracking_number')} left the warehouse"
    return None


_COMMANDS = {
    c.wire_name for c in (ChargePayment, RefundPayment, CreateShipment, CancelShipment)
} | {DispatchShipment.wire_name}


def _facts(found: console.Trace, key: str) -> tuple[list[Fact], list[Fact]]:
    """Payments' and shipping's messages about the order, in the order written; a
    command with its receipt (did payments handle the charge, or park it?)."""
    payments: list[Fact] = []
    shipping: list[Fact] = []
    nodes = sorted(
        (node for _, node in found.nodes() if node.envelope.key == key),
        key=lambda n: (n.envelope.recorded_at, n.envelope.offset),
    )
    for node in nodes:
        envelope, receipts = node.envelope, tuple(node.receipts)
        for words, into in ((_payment_text, payments), (_shipping_text, shipping)):
            text = words(envelope.type, envelope.payload)
            if text is None:
                continue
            command = envelope.type in _COMMANDS
            into.append(
                Fact(
                    at=envelope.recorded_at,
                    type=envelope.type,
                    text=text,
                    receipts=receipts if command else (),
                    trouble=any(r.state in ("parked", "retrying") for r in receipts),
                )
            )
    return payments, shipping


def _when(at: datetime | None) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else "?"


def verdict(found: Investigation) -> tuple[str, bool]:
    """What happened to the order, in a sentence or three; and whether something is
    stuck or failed (a dead letter, a retry, a saga needing a person)."""
    state, saga = found.state, found.saga
    status, tracking = state["status"], state["tracking_number"]
    said: list[str] = []
    if status == "placed":
        if saga is not None and not saga.ended and saga.steps:
            step = saga.steps[saga.step_index]
            said.append(
                f"Placed {_when(found.event_time('orders.OrderPlaced'))} and still in "
                f"fulfilment: {saga.status} at step {step.index + 1} of "
                f"{len(saga.steps)}, {step.name} ({step.state})"
            )
        else:
            said.append("Placed; its fulfilment has not started")
    elif status == "confirmed":
        since = _when(found.event_time("orders.OrderConfirmed"))
        if state["dispatching"]:
            said.append(f"Confirmed {since}; staff started its dispatch")
        else:
            said.append(
                f"Confirmed {since}: shipment {tracking or '(no tracking number)'} "
                "was created and waits for staff to dispatch it"
            )
    elif status == "shipped":
        said.append(
            f"Shipped {_when(found.event_time('orders.OrderShipped'))} as {tracking}"
        )
    else:
        when = _when(found.event_time(f"orders.Order{status.capitalize()}"))
        said.append(f"{status.capitalize()} {when}: {state['reason'] or 'no reason'}")
    if state["paid"]:
        paid = (
            f"Paid {state['amount_paid']} {state['currency']} "
            f"(charge {state['payment_reference']})"
        )
        said.append(paid + (", refunded since" if state["refunded"] else ""))
    elif status in ("rejected", "cancelled"):
        said.append("Nothing was charged")
    else:
        said.append("Not paid yet")
    trouble = False
    if saga is not None and saga.needs_attention:
        trouble = True
        said.append(f"Its saga needs a person: {saga.reason}")
    for letter in found.dead_letters:
        trouble = True
        said.append(
            f"{letter.type} is parked as dead letter #{letter.id} in "
            f"{letter.subscription} since {_when(letter.at)}: {letter.error}"
        )
    retrying = [
        (row.node.envelope.type, r)
        for row in found.tree
        for r in row.receipts
        if r.state == "retrying"
    ]
    for type_name, receipt in retrying:
        trouble = True
        said.append(
            f"{type_name} keeps failing in {receipt.subscription} (attempt "
            f"{receipt.attempts}): {receipt.error}"
        )
    return ". ".join(said) + ".", trouble
