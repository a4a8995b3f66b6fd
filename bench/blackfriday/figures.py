"""The figures of one Black Friday phase, read from what the shop recorded.

Times come from the event log: an order's ``OrderPlaced`` and its ``OrderConfirmed``
(or ``OrderRejected``) rows, ``recorded_at`` (set in the transaction that wrote them).
The invariants come from the participants' own books: the fake provider's charges
(one successful charge per order at most) and inventory's products and holds (never
more held or taken than stocked).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Sum

from bench.blackfriday.hops import hops
from bench.blackfriday.load import InFlight, Placement
from bench.common.report import percentile
from events.delivery.subscriptions import registry
from events.models import LogEntry, SagaInstance
from events.ops import status
from inventory.models import Hold, Product

PLACED, CONFIRMED, REJECTED = (
    "orders.OrderPlaced",
    "orders.OrderConfirmed",
    "orders.OrderRejected",
)
# Charges the provider recorded as successful, per order: the provider's key is
# "payments:<message id of the ChargePayment>", and that message's key is the order.
_CHARGES_PER_ORDER = """
SELECT l.key, count(*) FROM payments_fake_provider_charge c
LEFT JOIN events_log l ON c.idempotency_key = 'payments:' || l.message_id::text
WHERE c.succeeded GROUP BY l.key
"""


def order_times() -> dict[str, dict[str, Any]]:
    """Per order id: when it was placed, confirmed or rejected (epoch seconds), and
    the rejection's reason."""
    orders: dict[str, dict[str, Any]] = {}
    rows = LogEntry.objects.filter(type__in=(PLACED, CONFIRMED, REJECTED)).values_list(
        "key", "type", "recorded_at", "payload"
    )
    for key, kind, recorded_at, payload in rows:
        order = orders.setdefault(key, {})
        order[kind] = _epoch(recorded_at)
        if kind == REJECTED:
            order["reason"] = payload.get("reason", "")
    return orders


def finished(accepted: set[str]) -> int:
    """How many of the accepted orders are final: confirmed, rejected, or their saga
    stuck for a person (needs attention)."""
    final = set(
        LogEntry.objects.filter(type__in=(CONFIRMED, REJECTED), key__in=accepted)
        .values_list("key", flat=True)
        .distinct()
    )
    final |= set(
        SagaInstance.objects.filter(
            key__in=accepted, status__in=("needs_attention", "resolved")
        ).values_list("key", flat=True)
    )
    return len(final)


def measure(
    placement: Placement,
    in_flight: InFlight,
    *,
    stocked: dict[str, int],
    bound_per_second: float,
) -> dict[str, Any]:
    accepted = [p for p in placement.orders if p.accepted]
    ids = {str(p.planned.command.order_id) for p in accepted}
    times = {k: v for k, v in order_times().items() if k in ids}
    placed_at = [t[PLACED] for t in times.values() if PLACED in t]
    confirmed_at = [t[CONFIRMED] for t in times.values() if CONFIRMED in t]
    final_at = [t.get(CONFIRMED) or t.get(REJECTED) for t in times.values()]
    final_at = [t for t in final_at if t is not None]
    to_confirm = [t[CONFIRMED] - t[PLACED] for t in times.values() if CONFIRMED in t]
    window = (placement.wall_started, placement.wall_started + placement.seconds)
    # The second half of the placing: the pipeline is full by then (at the fast
    # provider within seconds), so finished/s there is what the shop sustains.
    tail = ((window[0] + window[1]) / 2, window[1])
    tail_seconds = tail[1] - tail[0]
    first = min(placed_at, default=window[0])
    last_final = max(final_at, default=window[1])
    in_window = in_flight.between(first, last_final)
    confirming = max(confirmed_at, default=first) - first
    latencies = [p.latency * 1000 for p in accepted]
    services = [p.service * 1000 for p in accepted]
    return {
        "orders": len(placement.orders),
        "accepted": len(accepted),
        "refused": dict(Counter(p.refused for p in placement.orders if p.refused)),
        "errors": Counter(p.error for p in placement.orders if p.error).most_common(5),
        "placement_seconds": placement.seconds,
        "accept_ms": _spread(latencies),
        "accept_latencies_ms": sorted(latencies),  # pooled over rounds (report.py)
        "accept_service_ms": _spread(services),
        # when each accept was due (s into the placing), its latency and service time
        # (ms), in due order: where a phase's slowest accepts fall
        "accept_timeline": sorted(
            (p.due - placement.started, p.latency * 1000, p.service * 1000)
            for p in accepted
        ),
        "confirmed": len(confirmed_at),
        "rejected": sum(REJECTED in t for t in times.values()),
        "rejections": _reasons(times.values()),
        "unfinished": len(ids) - len(final_at),
        "to_confirmation_s": _spread(to_confirm),
        "placements_per_s": len(accepted) / placement.seconds,
        "tail": {
            "seconds": tail_seconds,
            "placements_per_s": _count_in(placed_at, tail) / tail_seconds,
            "confirmations_per_s": _count_in(confirmed_at, tail) / tail_seconds,
            "finished_per_s": _count_in(final_at, tail) / tail_seconds,
        },
        "confirmations_per_s_overall": (
            len(confirmed_at) / confirming if confirming > 0 else 0.0
        ),
        "unfinished_at_last_placement": len(ids) - _count_in(final_at, window),
        "drain_after_placement_s": max(0.0, last_final - window[1]),
        "payments_bound_per_s": bound_per_second,
        "in_flight": {
            "max_sampled": max(in_window, default=0),
            "mean_sampled": statistics.fmean(in_window) if in_window else 0.0,
            "max_exact": in_flight.peak,
            "samples": len(in_window),
            "provider_calls": in_flight.calls,
        },
        "postgres_sessions_max": in_flight.sessions_peak,
        "double_charges": double_charges(),
        "oversells": oversells(stocked),
        "sagas": dict(
            SagaInstance.objects.filter(key__in=ids)
            .values_list("status")
            .annotate(n=Count("id"))
        ),
        "dead_letters": status.dead_letter_counts(),
        "backlog": backlog(),
        "hops": hops(sorted(ids), spread=_spread),
    }


def double_charges() -> dict[str, int]:
    """Successful provider charges beyond one per order (must be 0), and successful
    charges that match no ChargePayment message (must be 0 too)."""
    with connection.cursor() as cursor:
        cursor.execute(_CHARGES_PER_ORDER)
        rows = cursor.fetchall()
    return {
        "extra_charges": sum(n - 1 for key, n in rows if key is not None and n > 1),
        "unmatched_charges": sum(n for key, n in rows if key is None),
        "charged_orders": sum(1 for key, _ in rows if key is not None),
    }


def oversells(stocked: dict[str, int]) -> dict[str, int]:
    """Products with stock below zero (more held than on hand), and products whose
    held plus committed units exceed the stock put in (``stocked``); both must be 0.
    ``books_off`` counts products whose ``reserved`` differs from the sum of their
    held holds (a bookkeeping bug; 0 too)."""
    taken = dict(
        Hold.objects.filter(status__in=(Hold.Status.HELD, Hold.Status.COMMITTED))
        .values_list("sku")
        .annotate(n=Sum("quantity"))
    )
    held = dict(
        Hold.objects.filter(status=Hold.Status.HELD)
        .values_list("sku")
        .annotate(n=Sum("quantity"))
    )
    products = list(Product.objects.all())
    return {
        "below_zero": sum(p.on_hand - p.reserved < 0 for p in products),
        "beyond_stock": sum(
            taken.get(p.sku, 0) > stocked.get(p.sku, 0) for p in products
        ),
        "books_off": sum(held.get(p.sku, 0) != p.reserved for p in products),
    }


def backlog() -> dict[str, int]:
    """Messages each subscription still has to process (only those behind)."""
    behind = {}
    for subscription in registry.all():
        lag = sum(row.lag for row in status.partition_status(subscription))
        if lag:
            behind[subscription.name] = lag
    return behind


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=math.nan),
        "mean": statistics.fmean(values) if values else math.nan,
        "n": len(values),
    }


def _count_in(moments: list[float], window: tuple[float, float]) -> int:
    return sum(window[0] <= t <= window[1] for t in moments)


def _reasons(times: Any) -> dict[str, int]:
    """Rejections by reason, without the per-order details (``Kind: {...}``)."""
    return dict(
        Counter(
            t.get("reason", "").split(":", 1)[0][:60] for t in times if REJECTED in t
        )
    )


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
