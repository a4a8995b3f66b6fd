"""Orders in the storefront API: place (idempotent with a key), read, list, history,
cancel. Every operation needs the caller's bearer token; ``request.auth`` is the
caller's customer id (set by the API's auth, which this module does not import).

Another customer's order is answered exactly like an order that does not exist (404,
before any other work such as waiting), so ids reveal nothing. An endpoint parses,
calls one service and serializes: commands go through ``events.bus`` (placing through
``events.once``, which replays the first answer of an Idempotency-Key); reads come
from the read model (``queries``), from the event store when the view has not caught
up, or as of a past time (``history``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from ninja import Header, Query, Router, Status
from ninja.errors import ValidationError
from pydantic import WithJsonSchema

from events import bus, idempotency, once

from . import queries
from .contracts import CancelOrder
from .domain import Order, OrderNotFoundError
from .history import order_as_of
from .schemas import (
    CancelAccepted,
    LineOut,
    OrderAccepted,
    OrderEventOut,
    OrderOut,
    OrderPage,
    PlaceOrderIn,
    money,
    order_from_history,
    order_from_view,
)

router = Router(tags=["orders"])
JSON = "application/json; charset=utf-8"
MAX_PAGE = 100
NOT_FOUND = {404: {"description": "No such order, or not the caller's."}}
IDEMPOTENCY_KEY_DOC = (
    "Makes retries safe: the first completed answer for this key (scoped to the "
    "customer, kept 24 h after first use) is replayed with `Idempotent-Replayed: true`."
    " At most 255 printable ASCII characters (else 400); the same key with another "
    "body is a 422, and while the first request runs, a 409."
)

AS_OF = Query(None, description="ISO 8601 time (naive means UTC).")
# Documented, not validated by the schema: an over-long key is a 400, not a 422.
IDEMPOTENCY_KEY = {"type": "string", "maxLength": idempotency.MAX_KEY_LENGTH}


def _caller(request: HttpRequest) -> UUID:
    # django-ninja sets request.auth (the authenticator's answer); HttpRequest has none
    return request.auth  # type: ignore[attr-defined]


def _owned(request: HttpRequest, order_id: UUID) -> None:
    """404 unless the order exists and is the caller's (the same answer for both)."""
    if queries.owner_of(order_id) != _caller(request):
        raise OrderNotFoundError(order_id)


def _problem(field: str, message: str) -> ValidationError:
    return ValidationError([{"loc": ("query", field), "msg": message, "type": field}])


def _utc(when: datetime, field: str) -> datetime:
    """In UTC (naive means UTC); a time that leaves the calendar there is a 422."""
    try:
        return (
            when.astimezone(UTC)
            if timezone.is_aware(when)
            else when.replace(tzinfo=UTC)
        )
    except OverflowError:
        raise _problem(field, "out of range") from None


# --- placing ------------------------------------------------------------------------


def _accepted(order: Order, path: str) -> idempotency.StoredResponse:
    """The answer to a placed order (pure: it is stored with an Idempotency-Key in
    the order's own transaction, and returned)."""
    state = order.state
    accepted = OrderAccepted(
        order_id=order.id,
        status="placed",
        items=[
            LineOut(sku=ln.sku, quantity=ln.quantity, unit_price=money(ln.unit_price))
            for ln in sorted(state.lines, key=lambda ln: ln.sku)
        ],
        total=money(state.total),
        currency=state.currency or state.lines[0].currency,
        version=order.version,
    )
    return idempotency.StoredResponse(
        status=202,
        body=accepted.model_dump_json(),
        headers={"Content-Type": JSON, "Location": f"{path}/{order.id}"},
    )


def _response(stored: idempotency.StoredResponse, *, replayed: bool) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status)
    for name, value in stored.headers.items():
        response[name] = value
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@router.post(
    "/orders",
    response={202: OrderAccepted},
    summary="Place an order",
    description="Accepted orders are fulfilled asynchronously (stock, payment, "
    "shipment): follow the `Location`, with `?wait=` to read your own write.",
    openapi_extra={
        "responses": {
            202: {
                "headers": {
                    "Location": {
                        "description": "The order's URL.",
                        "schema": {"type": "string"},
                    },
                    "Idempotent-Replayed": {
                        "description": "`true` when this is a stored answer replayed.",
                        "schema": {"type": "string", "enum": ["true"]},
                    },
                }
            },
            400: {"description": "Malformed request, or an invalid Idempotency-Key."},
            403: {"description": "The customer's account is disabled."},
            409: {
                "description": "Out of stock by the current availability "
                "(`shortages`), the account is not set up yet, or a request with "
                "this Idempotency-Key is still in progress (retry after "
                "`Retry-After`)."
            },
            422: {
                "description": "Invalid order (unknown product, quantities...), or "
                "an Idempotency-Key used before for a different request."
            },
        }
    },
)
def place_order(
    request: HttpRequest,
    body: PlaceOrderIn,
    idempotency_key: Annotated[str | None, WithJsonSchema(IDEMPOTENCY_KEY)] = Header(
        None, alias="Idempotency-Key", description=IDEMPOTENCY_KEY_DOC
    ),
) -> HttpResponse:
    customer_id = _caller(request)
    key = (
        None
        if idempotency_key is None
        else once.Key(
            scope=f"orders:{customer_id}",
            key=idempotency_key,
            fingerprint=idempotency.fingerprint("place_order", body.model_dump_json()),
        )
    )
    path = request.path.rstrip("/")
    answer = once.execute_once(
        body.to_command(order_id=uuid4(), customer_id=customer_id),
        key=key,
        expected=Order,
        answer=lambda order: _accepted(order, path),
        holder=request,  # an error answer settles the key (shop.api.problems)
    )
    return _response(answer.response, replayed=answer.replayed)


# --- reading ------------------------------------------------------------------------


@router.get(
    "/orders/{order_id}",
    response=OrderOut,
    summary="An order",
    description="From the read model; `as_of` answers from the event store as the "
    "order stood then; `wait` waits (at most that many seconds) for the read model to "
    "catch up with the order's latest event, or with `until=settled` for the order to "
    "settle (confirmed, rejected or cancelled), else answers the order as it stands "
    "(from the event store when the read model is behind).",
    openapi_extra={"responses": NOT_FOUND},
)
def get_order(
    request: HttpRequest,
    order_id: UUID,
    as_of: datetime | None = AS_OF,
    wait: float | None = Query(
        None,
        gt=0,
        le=settings.API_MAX_WAIT_SECONDS,
        allow_inf_nan=False,
        description="Seconds to wait for the read model to catch up (or, with "
        "`until=settled`, for the order to settle).",
    ),
    until: Literal["current", "settled"] = Query(
        "current",
        description="What `wait` waits for: `current` (the read model has the "
        "order's latest event) or `settled` (the order is confirmed, rejected or "
        "cancelled, so a storefront learns the outcome in one request). Needs "
        "`wait`; when it runs out first, the order is answered as it stands.",
    ),
) -> OrderOut:
    _owned(request, order_id)
    if until == "settled" and wait is None:
        raise _problem("until", "until=settled needs wait (at most that many seconds)")
    if as_of is not None:
        if wait is not None:
            raise _problem("wait", "wait and as_of cannot be combined")
        return order_from_history(*order_as_of(order_id, _utc(as_of, "as_of")))
    waited = getattr(queries, f"wait_until_{until}")  # wait_until_current or _settled
    if wait is not None and not waited(order_id, timeout=wait):
        return order_from_history(*order_as_of(order_id))
    summary = queries.order_summary(order_id)
    if summary is None:  # the view has not seen it yet: the stream has
        return order_from_history(*order_as_of(order_id))
    return order_from_view(summary, summary.pop("lines"))


def _encode(created_at: datetime, order_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, order_id = raw.partition("|")
        created_at = datetime.fromisoformat(when)
        if timezone.is_naive(created_at):
            raise ValueError("naive")
        return _utc(created_at, "cursor"), UUID(order_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _problem("cursor", "not a valid cursor") from None


@router.get(
    "/orders",
    response=OrderPage,
    summary="The caller's orders, newest first, a page at a time",
)
def list_orders(
    request: HttpRequest,
    cursor: str | None = Query(None, max_length=200),
    page_size: int = Query(20, ge=1, le=MAX_PAGE),
) -> OrderPage:
    before = _decode(cursor) if cursor is not None else None
    rows = queries.customer_orders(_caller(request), limit=page_size + 1, before=before)
    more = len(rows) > page_size
    rows = rows[:page_size]
    lines = queries.lines_by_order([row["order_id"] for row in rows])
    return OrderPage(
        items=[order_from_view(row, lines[row["order_id"]]) for row in rows],
        next_cursor=(
            _encode(rows[-1]["created_at"], rows[-1]["order_id"]) if more else None
        ),
    )


@router.get(
    "/orders/{order_id}/events",
    response=list[OrderEventOut],
    summary="The order's history: its events in order",
    openapi_extra={"responses": NOT_FOUND},
)
def order_events(request: HttpRequest, order_id: UUID) -> list[OrderEventOut]:
    _owned(request, order_id)
    return [
        OrderEventOut(
            type=e["type"],
            version=e["version"],
            recorded_at=e["recorded_at"],
            data=e["data"],
        )
        for e in queries.history(order_id)
    ]


# --- cancelling ---------------------------------------------------------------------


@router.post(
    "/orders/{order_id}/cancel",
    response={202: CancelAccepted},
    summary="Cancel an order (until it ships)",
    description="The cancellation is recorded at once; releasing the stock, refunding "
    "and cancelling the shipment follow asynchronously. Cancelling a cancelled or "
    "rejected order changes nothing.",
    openapi_extra={
        "responses": {
            **NOT_FOUND,
            409: {
                "description": "Staff started its dispatch, or it shipped: "
                "it can no longer be cancelled."
            },
        }
    },
)
def cancel_order(request: HttpRequest, order_id: UUID) -> Status:
    _owned(request, order_id)
    order = bus.outcome(
        CancelOrder(order_id=order_id, reason="cancelled by the customer"), Order
    )
    status = order.state.status
    # pydantic reads the OrderStatus member (a StrEnum) as its literal; a cancelled
    # order has one
    return Status(202, CancelAccepted(order_id=order_id, status=status))  # type: ignore[arg-type]
