"""API schemas of orders (the HTTP shapes; not the messages of contracts.py).

Inputs are bounded where the rules are (MAX_QUANTITY, MAX_LINES), so an oversized
number is a 422 before any work; money goes out as decimal strings ("12.50"). Request
bodies are validated strictly (``BodyIn``): a JSON string or boolean is never read as
a number."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints

from .contracts import Address, OrderItem, PlaceOrder
from .domain import MAX_LINES, MAX_QUANTITY
from .domain.state import shipment_status

MONEY = r"^-?\d+\.\d{2}$"
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Status = Literal["placed", "confirmed", "shipped", "rejected", "cancelled"]
PaymentState = Literal["pending", "paid", "declined", "failed", "refunded"]


def money(amount: Decimal | str) -> str:
    return f"{Decimal(amount):.2f}"


class BodyIn(Schema):
    """Base of request bodies: strict types. Pydantic's default (lax) mode reads the
    JSON string ``"3"`` as 3 and ``true`` as 1; a client sending those has a bug we
    should report (422), not guess around."""

    model_config = ConfigDict(strict=True)


class ItemIn(BodyIn):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class AddressIn(BodyIn):
    name: Text
    line1: Text
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Text
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: str = Field(
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code",
        examples=["FR"],
    )


class PlaceOrderIn(BodyIn):
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_LINES)
    shipping_address: AddressIn
    payment_method: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(examples=["pm_card_visa"])

    def to_command(self, *, order_id: UUID, customer_id: UUID) -> PlaceOrder:
        return PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=tuple(OrderItem(sku=i.sku, quantity=i.quantity) for i in self.items),
            shipping_address=Address(**self.shipping_address.model_dump()),
            payment_method=self.payment_method,
        )


class LineOut(Schema):
    sku: str
    quantity: int
    unit_price: str = Field(pattern=MONEY, examples=["12.50"])


class OrderAccepted(Schema):
    order_id: UUID
    status: Literal["placed"]
    items: list[LineOut]
    total: str = Field(pattern=MONEY)
    currency: str
    version: int = Field(description="The order stream's version after placing.")


class ShipmentOut(Schema):
    status: str = Field(
        description='"none" before there is a shipment, "created" (it has a tracking '
        'number), "shipped", or "cancelled" with the order.'
    )
    tracking_number: str | None


class OrderOut(Schema):
    order_id: UUID
    status: Status
    reason: str | None = Field(
        description="Why the order was rejected or cancelled, in words for the "
        "customer (else null)."
    )
    reason_code: str | None = Field(
        description="The same as a stable code for machines (e.g. `out_of_stock`, "
        "`card_declined`, `charge_payment_failed`, `charge_payment_timed_out`, "
        "`cancelled`); null before one is known.",
        examples=["card_declined"],
    )
    items: list[LineOut]
    total: str = Field(pattern=MONEY)
    currency: str
    payment_status: PaymentState = Field(
        description='"pending" until the payment provider answers; "paid"; '
        '"declined" (the card was refused: nothing was taken); "failed" (the '
        "provider did not answer, through every retry or by the deadline, and the "
        'fulfilment gave up on the charge); "refunded" (given back in full).'
    )
    shipment: ShipmentOut
    created_at: datetime = Field(description="When the order was placed.")
    updated_at: datetime = Field(
        description="When the order's last event (`version`) was recorded."
    )
    version: int = Field(description="The last event of the order this view reflects.")


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


class OrderEventOut(Schema):
    type: str = Field(examples=["orders.OrderPlaced"])
    version: int
    recorded_at: datetime
    data: dict[str, Any]


class CancelAccepted(Schema):
    order_id: UUID
    status: Status = Field(
        description="The order's status now: cancelled, or rejected if it already was."
    )


def _lines(lines: list[dict[str, Any]]) -> list[LineOut]:
    return [
        LineOut(
            sku=ln["sku"], quantity=ln["quantity"], unit_price=money(ln["unit_price"])
        )
        for ln in lines
    ]


def order_from_view(summary: dict[str, Any], lines: list[dict[str, Any]]) -> OrderOut:
    """The read model's row and lines (``orders.queries``) as the API shows them."""
    return OrderOut(
        order_id=summary["order_id"],
        status=summary["status"],
        reason=summary["reason"] or None,
        reason_code=summary["reason_code"] or None,
        items=_lines(lines),
        total=money(summary["total"]),
        currency=summary["currency"],
        payment_status=summary["payment_status"],
        shipment=ShipmentOut(
            status=summary["shipment_status"],
            tracking_number=summary["tracking_number"] or None,
        ),
        created_at=summary["created_at"],
        updated_at=summary["updated_at"],
        version=summary["version"],
    )


def order_from_history(state: dict[str, Any], events: list[dict[str, Any]]) -> OrderOut:
    """The order folded from its events (``orders.history.order_as_of``), in the same
    shape as the read model gives it (times are the events' recorded times)."""
    return OrderOut(
        order_id=state["order_id"],
        status=state["status"],
        reason=state["reason"] or None,
        reason_code=state["reason_code"] or None,
        items=_lines(sorted(state["lines"], key=lambda ln: ln["sku"])),
        total=money(state["total"]),
        currency=state["currency"] or "EUR",
        payment_status=state["payment_status"],
        shipment=ShipmentOut(
            status=shipment_status(state["status"], state["tracking_number"]),
            tracking_number=state["tracking_number"] or None,
        ),
        created_at=events[0]["recorded_at"],
        updated_at=events[-1]["recorded_at"],
        version=state["version"],
    )
