"""The order flow end to end, in-process: placing an order starts the fulfilment saga,
which reserves stock, charges the card and creates the shipment, then confirms the
order; a declined card or missing stock undoes what was done and rejects the order; a
customer's cancellation undoes everything until dispatch; a compensation failing once
is retried, one failing for good ends in needs-intervention with an alert.
Every app is reached only through messages; the test reads each app's outcome through
the read models and the participants' own tables."""

from datetime import timedelta
from uuid import uuid4

from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

import pytest

import inventory.handlers
import payments.handlers
import shipping.handlers
from events.commands import bus
from events.log.outbox import publish
from events.models import DeadLetter, LogEntry, SagaInstance
from events.sagas.deadlines import expire_overdue
from inventory.models import Product
from loyalty import queries as loyalty
from orders import queries
from orders.contracts import Address, CancelOrder, OrderItem, PlaceOrder
from orders.domain.errors import InvalidTransitionError
from orders.models import AvailabilityView, CustomerView
from payments.models import FakeProviderCharge, FakeProviderRefund, Payment
from processes.waiting import wait_until
from shipping.contracts import CancelShipment
from shipping.models import Shipment
from tests.support.console import summary_of

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


@pytest.fixture
def shop(dispatcher):
    call_command(
        "catalog", "add", "MUG", "--name", "Mug", "--price", "9.50", "--stock", "10"
    )
    call_command(
        "catalog",
        "add",
        "POSTER",
        "--name",
        "Poster",
        "--price",
        "120.00",
        "--stock",
        "1",
    )
    call_command(
        "customers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--password",
        "pw-of-ann",
    )
    wait_until(lambda: AvailabilityView.objects.count() == 2, "the availability view")
    wait_until(lambda: CustomerView.objects.exists(), "the customer view")
    return CustomerView.objects.get().customer_id


def place(customer_id, *items, payment_method="pm_card_visa", order_id=None):
    order_id = order_id or uuid4()
    bus.execute(
        PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=tuple(OrderItem(sku=sku, quantity=q) for sku, q in items),
            shipping_address=ADDRESS,
            payment_method=payment_method,
        )
    )
    return order_id


def settled(order_id):
    saga = SagaInstance.objects.filter(key=str(order_id)).first()
    summary = queries.order_summary(order_id)
    return (
        saga is not None
        and saga.status in {"completed", "compensated", "needs_attention"}
        and summary is not None
        and summary["status"] in {"confirmed", "rejected"}
    )


def test_an_order_is_reserved_charged_shipped_and_confirmed(shop):
    order_id = place(shop, ("MUG", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = summary_of(order_id)
    assert (summary["status"], summary["payment_status"]) == ("confirmed", "paid")
    assert summary["reserved"] is True
    assert FakeProviderCharge.objects.count() == 1
    tracking = Shipment.objects.get(order_id=order_id).tracking_number
    assert tracking.startswith("TRK")
    # the order knows its shipment from the confirmation on
    assert (summary["shipment_status"], summary["tracking_number"]) == (
        "created",
        tracking,
    )
    mug = Product.objects.get(sku="MUG")
    assert (mug.on_hand, mug.reserved) == (10, 2)
    flow = LogEntry.objects.filter(
        correlation_id=LogEntry.objects.get(type="orders.OrderPlaced").correlation_id
    )
    assert {
        "orders.OrderConfirmed",
        "payments.PaymentSucceeded",
        "inventory.InventoryReserved",
        "shipping.ShipmentCreated",
    } <= set(flow.values_list("type", flat=True))


def test_a_declined_card_releases_the_stock_and_rejects_the_order(shop):
    order_id = place(shop, ("MUG", 3), payment_method="pm_card_chargeDeclined")
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = summary_of(order_id)
    assert summary["status"] == "rejected" and "declined" in summary["reason"]
    assert summary["reserved"] is False
    assert Product.objects.get(sku="MUG").reserved == 0
    assert not Shipment.objects.exists()


def test_stock_gone_since_the_view_was_read_rejects_the_order(shop):
    # given a view that still shows stock inventory no longer has (it is eventually
    # consistent: the authoritative reservation is inventory's)
    AvailabilityView.objects.filter(sku="POSTER").update(available=5)
    order_id = place(shop, ("POSTER", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = summary_of(order_id)
    assert summary["status"] == "rejected" and "POSTER" in summary["reason"]
    assert FakeProviderCharge.objects.count() == 0


def test_a_failed_shipment_refunds_releases_and_rejects(shop):
    # given a shipment that cannot be created (its order's shipment was cancelled)
    order_id = uuid4()
    with transaction.atomic():
        publish(CancelShipment(order_id=order_id))
    # when the order is placed
    place(shop, ("MUG", 2), order_id=order_id)
    # then the charge is refunded, the stock released, the order rejected
    wait_until(lambda: undone(order_id), "the saga to compensate", 30)
    summary = summary_of(order_id)
    assert summary["status"] == "rejected"
    assert summary["reason"] == "the order's shipment was cancelled"
    assert FakeProviderRefund.objects.count() == 1
    assert Payment.objects.get(order_id=order_id).status == "refunded"
    assert Product.objects.get(sku="MUG").reserved == 0


def test_dispatch_ships_the_order_and_takes_the_stock_off_the_shelf(shop):
    # given a confirmed order
    order_id = place(shop, ("MUG", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    # when staff dispatch it
    call_command("shipping", "dispatch", str(order_id))
    # then the order is shipped and the stock has left
    wait_until(lambda: summary_of(order_id)["status"] == "shipped", "shipped")
    wait_until(lambda: Product.objects.get(sku="MUG").on_hand == 8, "the stock")
    assert Product.objects.get(sku="MUG").reserved == 0


def saga_of(order_id):
    return SagaInstance.objects.get(saga="orders.fulfilment", key=str(order_id))


def sent(type_name, order_id):
    return LogEntry.objects.filter(type=type_name, key=str(order_id)).count()


def cancel(order_id, reason="changed my mind"):
    bus.execute(CancelOrder(order_id=order_id, reason=reason))


def undone(order_id):
    saga = SagaInstance.objects.filter(key=str(order_id)).first()
    summary = queries.order_summary(order_id)
    return (
        saga is not None
        and saga.status == "compensated"
        and summary is not None
        and summary["status"] in {"cancelled", "rejected"}
    )


def test_a_cancelled_confirmed_order_is_released_refunded_and_unshipped(shop):
    # given a confirmed order, whose customer earned points
    order_id = place(shop, ("MUG", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    wait_until(lambda: loyalty.balance(shop) > 0, "the points")
    # when the customer cancels it
    cancel(order_id)
    # then every step is undone and the order stays cancelled
    wait_until(lambda: undone(order_id), "the cancellation to be undone")
    wait_until(
        lambda: summary_of(order_id)["payment_status"] == "refunded",
        "the refund in the order's view",
    )
    summary = summary_of(order_id)
    assert summary["status"] == "cancelled"
    assert saga_of(order_id).reason == "cancelled: changed my mind"
    assert Product.objects.get(sku="MUG").reserved == 0
    assert Payment.objects.get(order_id=order_id).status == "refunded"
    assert FakeProviderRefund.objects.count() == 1
    assert Shipment.objects.get(order_id=order_id).status == "cancelled"
    assert summary["shipment_status"] == "cancelled"
    wait_until(lambda: loyalty.balance(shop) == 0, "the points to be taken back")
    assert sent("orders.RejectOrder", order_id) == 0  # cancelled, not rejected
    assert not DeadLetter.objects.exists()


def test_an_order_cancelled_while_it_is_charged_is_refunded_after_the_charge(
    shop, settings
):
    # given a slow provider, and an order whose charge is in flight
    settings.PAYMENT_PROVIDER_LATENCY_MS = 400
    order_id = place(shop, ("MUG", 1))
    wait_until(lambda: sent("payments.ChargePayment", order_id), "the charge")
    # when the customer cancels before the provider answers
    cancel(order_id)
    # then the charge still happened, and the refund after it gave the money back
    wait_until(lambda: undone(order_id), "the cancellation to be undone", 30)
    assert FakeProviderCharge.objects.filter(succeeded=True).count() == 1
    assert FakeProviderRefund.objects.count() == 1
    assert Product.objects.get(sku="MUG").reserved == 0
    assert summary_of(order_id)["status"] == "cancelled"
    wait_until(
        lambda: summary_of(order_id)["payment_status"] == "refunded",
        "the late payment and its refund in the order's view",
    )
    assert not DeadLetter.objects.exists()  # the late payment was no error


def test_a_dispatched_order_cannot_be_cancelled(shop):
    order_id = place(shop, ("MUG", 1))
    wait_until(lambda: settled(order_id), "the order to settle")
    call_command("shipping", "dispatch", str(order_id))
    wait_until(lambda: summary_of(order_id)["status"] == "shipped", "shipped")
    with pytest.raises(InvalidTransitionError, match="being dispatched|shipped"):
        cancel(order_id)
    assert saga_of(order_id).status == "completed"


def test_a_charge_past_its_deadline_is_refunded_when_it_lands_late(shop, settings):
    # given a charge in flight at a provider slower than the step's deadline
    settings.PAYMENT_PROVIDER_LATENCY_MS = 400
    order_id = place(shop, ("MUG", 1))
    wait_until(lambda: sent("payments.ChargePayment", order_id), "the charge")
    # when the deadline passes (a controllable clock)
    expire_overdue(now=timezone.now() + timedelta(minutes=6))
    # then the order is rejected, and the charge that landed late was refunded
    wait_until(lambda: undone(order_id), "the saga to compensate", 30)
    summary = summary_of(order_id)
    assert summary["status"] == "rejected"
    assert "did not answer in time" in summary["reason"]
    assert FakeProviderCharge.objects.filter(succeeded=True).count() == 1
    assert FakeProviderRefund.objects.count() == 1
    assert Product.objects.get(sku="MUG").reserved == 0


def release_failing(monkeypatch, times):
    """Make inventory's release fail ``times`` times (-1: until told otherwise)."""
    real, left = inventory.handlers._held, {"n": times}

    def held(order_id):
        if left["n"] != 0:
            left["n"] -= 1
            raise ConnectionError("the stock database is unreachable")
        return real(order_id)

    monkeypatch.setattr(inventory.handlers, "_held", held)
    return left


def fail_once(monkeypatch, module, name):
    """Make ``module.name`` (looked up when called) raise on its first call only."""
    real, calls = getattr(module, name), []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError(f"{name}: the service is unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return calls


@pytest.mark.parametrize(
    "module, name",
    [
        (inventory.handlers, "_held"),  # releasing the stock
        (payments.handlers, "get_provider"),  # refunding the charge
        (shipping.handlers, "tracking_number"),  # cancelling the shipment
    ],
    ids=["release", "refund", "cancel-shipment"],
)
def test_each_compensation_failing_once_is_retried(shop, monkeypatch, module, name):
    # given a confirmed order, and one of its undos failing once
    order_id = place(shop, ("MUG", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    calls = fail_once(monkeypatch, module, name)
    # when the customer cancels it
    cancel(order_id)
    # then the failed undo was retried and everything is undone
    wait_until(lambda: undone(order_id), "the saga to compensate", 30)
    assert len(calls) >= 2
    assert Product.objects.get(sku="MUG").reserved == 0
    assert FakeProviderRefund.objects.count() == 1
    assert Shipment.objects.get(order_id=order_id).status == "cancelled"
    assert summary_of(order_id)["status"] == "cancelled"
    assert not DeadLetter.objects.exists()


def test_a_compensation_failing_for_good_needs_intervention_and_alerts(
    shop, monkeypatch, settings
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    # given a release of stock that keeps failing, and a declined card
    left = release_failing(monkeypatch, -1)
    order_id = place(shop, ("MUG", 2), payment_method="pm_card_chargeDeclined")
    wait_until(lambda: sent("inventory.ReleaseInventory", order_id), "the release")
    wait_until(lambda: left["n"] < -1, "a failed release")
    # when the undo's deadline passes
    expire_overdue(now=timezone.now() + timedelta(minutes=3))
    # then the saga needs intervention and the admins were alerted
    saga = saga_of(order_id)
    assert saga.status == "needs_attention"
    wait_until(
        lambda: any("needs intervention" in m.subject for m in mail.outbox), "alert"
    )
    assert mail.outbox[-1].to == ["ops@example.com"]
    # and once the stock service is back, the retried release moves the saga on
    left["n"] = 0
    wait_until(lambda: undone(order_id), "the saga to compensate", 30)
    assert Product.objects.get(sku="MUG").reserved == 0
