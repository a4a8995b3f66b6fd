"""The public contract of payments: the messages it publishes or accepts.

The only module of this app that another app may import. Every message is on the
``payments`` topic, keyed by ``order_id``, so one order's payment messages stay in one
partition, in order.

ChargePayment answers PaymentSucceeded or PaymentDeclined; a provider that is down or
too slow is not an answer: the command is retried with backoff, then dead-lettered.
RefundPayment (the saga's compensation) answers PaymentRefunded. Both are idempotent
per order: sent again, they charge or refund nothing more and answer as before.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import Field

from events import Command, Event, message

# --- commands ---------------------------------------------------------------------


@message("payments.ChargePayment", topic="payments", key="order_id")
class ChargePayment(Command):
    """Charge ``amount`` to ``payment_method`` (a provider token such as
    ``pm_card_visa``) for an order; at most once per order while it stands charged."""

    order_id: UUID
    amount: Decimal = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    payment_method: str


@message("payments.RefundPayment", topic="payments", key="order_id")
class RefundPayment(Command):
    """Refund the order's charge in full; answered by PaymentRefunded."""

    order_id: UUID


# --- events -----------------------------------------------------------------------


@message("payments.PaymentSucceeded", topic="payments", key="order_id")
class PaymentSucceeded(Event):
    """The order was charged; ``payment_reference`` is the provider's charge id."""

    order_id: UUID
    amount: Decimal
    currency: str
    payment_reference: str


@message("payments.PaymentDeclined", topic="payments", key="order_id")
class PaymentDeclined(Event):
    """The provider refused the charge; nothing was taken. ``reason`` says why in
    words a customer reads, ``code`` is the provider's decline code (e.g.
    ``card_declined``; empty on events recorded before codes were kept apart, whose
    ``reason`` was the code)."""

    order_id: UUID
    reason: str
    code: str = ""


@message("payments.PaymentRefunded", topic="payments", key="order_id")
class PaymentRefunded(Event):
    """The order's charge was refunded. When the order had no successful charge
    (never charged, or declined) there is nothing to give back: ``amount`` is 0 and
    ``payment_reference`` empty, so a compensating saga still gets its confirmation.
    ``payment_reference`` names the refunded charge, ``refund_reference`` the refund."""

    order_id: UUID
    amount: Decimal
    currency: str
    payment_reference: str
    refund_reference: str = ""
