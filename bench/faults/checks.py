"""What the fault suite checks after each round, from the shop's database.

Invariants (a break makes ``make faults`` exit non-zero):

* every accepted order is terminal: confirmed, rejected or cancelled in the order
  summary, and its fulfilment saga in a final state (an order whose ChargePayment
  the provider failed until it was parked included: the parked command fails its
  saga's step at once);
* one order per key: no accepted order missing from the log (lost), no order in the
  log that the client was not answered (or two orders for one key: duplicated);
* no double charge: at most one successful provider charge per order;
* charges = confirmed + refunded (the provider's successful charges, its refunds);
* no oversell: no product with more reserved than on hand, no more orders holding a
  product than it had;
* lag back to 0: every subscription has handled or parked every message;
* dead letters explained: each dead letter parked during the round matches one of
  the round's expected causes (subscription and error).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.db import DatabaseError, close_old_connections, connections
from django.db.models import F

T = TypeVar("T")
FINAL_SAGA = ("completed", "compensated", "needs_attention", "resolved")
FINAL_ORDER = ("confirmed", "rejected", "cancelled")
FULFILMENT = "orders.fulfilment"


@dataclass(frozen=True)
class Cause:
    """An expected reason for dead letters: the subscription, and a pattern of the
    parked error."""

    subscription: str
    error: str
    why: str


def resilient(read: Callable[[], T], *, attempts: int = 120) -> T:
    """Run a read, reconnecting while the database restarts (about a minute)."""
    for attempt in range(attempts):
        try:
            return read()
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            for conn in connections.all():
                conn.close_if_unusable_or_obsolete()
                conn.close()
            time.sleep(0.5)
    raise AssertionError("unreachable")


def order_states(order_ids: Iterable[str]) -> dict[str, str]:
    """Order id -> its summary status, for the orders that have one."""
    from orders.models import OrderSummaryView

    ids = list(order_ids)
    return {
        str(order_id): status
        for order_id, status in OrderSummaryView.objects.filter(
            order_id__in=ids
        ).values_list("order_id", "status")
    }


def saga_states(order_ids: Iterable[str]) -> dict[str, str]:
    from events.models import SagaInstance

    return dict(
        SagaInstance.objects.filter(
            saga=FULFILMENT, key__in=list(order_ids)
        ).values_list("key", "status")
    )


@dataclass(frozen=True)
class Unsettled:
    not_terminal: set[str]  # accepted orders not terminal
    lagging: list[str]  # subscriptions with messages left


def unsettled(order_ids: Iterable[str]) -> Unsettled:
    from events.ops.status import all_status

    ids = set(order_ids)
    orders, sagas = order_states(ids), saga_states(ids)
    open_ = {
        i
        for i in ids
        if orders.get(i) not in FINAL_ORDER or sagas.get(i) not in FINAL_SAGA
    }
    lagging = sorted(
        {row.subscription for row in all_status() if row.lag or row.retrying}
    )
    return Unsettled(open_, lagging)


def wait_settled(
    order_ids: Iterable[str], *, timeout: float
) -> tuple[float, Unsettled]:
    """Poll until every order is terminal and no subscription lags; return the
    seconds it took (the timeout if never) and the last state."""
    ids = set(order_ids)
    start = time.monotonic()
    while True:
        close_old_connections()
        state = resilient(lambda: unsettled(ids))
        if not state.not_terminal and not state.lagging:
            return time.monotonic() - start, state
        if time.monotonic() - start > timeout:
            return timeout, state
        time.sleep(0.5)


@dataclass(frozen=True)
class Books:
    """The invariants of the whole shop at one moment."""

    double_charges: int  # orders with more than one successful charge
    charges: int
    confirmed: int
    refunded: int
    oversold: list[str]

    @property
    def balanced(self) -> bool:
        return self.charges == self.confirmed + self.refunded


def books(*, stocked: dict[str, int]) -> Books:
    from events.models import LogEntry
    from inventory.models import Product
    from orders.models import OrderLineView, OrderSummaryView
    from payments.models import FakeProviderCharge, FakeProviderRefund

    order_of = dict(
        (f"payments:{message_id}", key)
        for message_id, key in LogEntry.objects.filter(
            type="payments.ChargePayment"
        ).values_list("message_id", "key")
    )
    succeeded = FakeProviderCharge.objects.filter(succeeded=True).values_list(
        "idempotency_key", flat=True
    )
    per_order = Counter(order_of.get(key, f"unknown:{key}") for key in succeeded)
    double = sum(1 for n in per_order.values() if n > 1) + sum(
        1 for order in per_order if order.startswith("unknown:")
    )
    oversold = list(
        Product.objects.filter(reserved__gt=F("on_hand")).values_list("sku", flat=True)
    )
    confirmed = OrderSummaryView.objects.filter(status="confirmed")
    held = Counter(
        OrderLineView.objects.filter(
            order_id__in=confirmed.values("order_id"), sku__in=list(stocked)
        ).values_list("sku", flat=True)
    )
    oversold += [sku for sku, n in held.items() if n > stocked[sku]]
    return Books(
        double_charges=double,
        charges=sum(per_order.values()),
        confirmed=confirmed.count(),
        refunded=FakeProviderRefund.objects.count(),
        oversold=oversold,
    )


def orders_placed_since(moment: datetime) -> set[str]:
    """Ids of the orders in the log placed from ``moment`` on."""
    from events.models import LogEntry

    return {
        str(key)
        for key in LogEntry.objects.filter(
            type="orders.OrderPlaced", recorded_at__gte=moment
        ).values_list("key", flat=True)
    }


@dataclass(frozen=True)
class Letter:
    subscription: str
    type: str
    error: str
    cause: str  # the expected cause it matched, or "" (unexplained)


def dead_letters_since(moment: datetime, causes: Iterable[Cause]) -> list[Letter]:
    from events.models import DeadLetter

    expected = list(causes)
    letters = []
    for subscription, type_, error in DeadLetter.objects.filter(
        parked_at__gte=moment
    ).values_list("subscription", "type", "error"):
        matched = next(
            (
                c.why
                for c in expected
                if c.subscription == subscription and re.search(c.error, error)
            ),
            "",
        )
        letters.append(Letter(subscription, type_, error, matched))
    return letters


def outcomes(order_ids: Iterable[str]) -> Counter[str]:
    """How the orders ended: "confirmed", "rejected: <reason>", ... ("open" while not
    terminal)."""
    from orders.models import OrderSummaryView

    ids = list(order_ids)
    found = Counter(
        status if status != "rejected" else f"rejected: {reason[:60]}"
        for status, reason in OrderSummaryView.objects.filter(
            order_id__in=ids
        ).values_list("status", "reason")
    )
    found["open"] += len(ids) - sum(found.values())
    return +found
