"""The staff pages the project composes (``shop/admin.py``), through Django's test
client: the order's page with payments' and shipping's records and dispatch, the
customer's page with orders, tokens and points, and the question staff are asked,
"customer X says order Y was charged but never shipped", answered from the email."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django.urls import reverse
from django.utils import timezone

import pytest

import inventory.handlers
import shipping.handlers
from customers import tokens
from customers.models import Customer
from events.delivery.subscriptions import registry
from events.models import DeadLetter
from events.sagas.deadlines import expire_overdue
from loyalty import queries as loyalty
from processes.waiting import wait_until
from shipping.models import Shipment
from tests.support.console import (
    EMAIL,
    console_shop_fixture,  # noqa: F401
    place,
    saga_of,
    settled,
    summary_of,
)

pytestmark = pytest.mark.django_db(transaction=True)
LIST = reverse("admin:orders_ordersummaryview_changelist")


def order_page(order_id):
    return reverse("admin:orders_ordersummaryview_change", args=[order_id])


def post(client, name, *args, **data):
    return client.post(reverse(f"admin:{name}", args=args), data, follow=True)


def test_the_order_page_shows_payments_and_shippings_records(
    admin_client, console_shop
):
    order_id = place(console_shop)
    wait_until(lambda: settled(order_id), "the order to settle")
    answer = admin_client.get(order_page(order_id))
    text = answer.content.decode()
    shipment = Shipment.objects.get(order_id=order_id)
    assert 'id="payments-record"' in text and "succeeded" in text
    assert summary_of(order_id)["payment_reference"] in text
    assert 'id="shipping-record"' in text and shipment.tracking_number in text
    assert "(waiting for dispatch)" in text and 'id="dispatch-order"' in text
    customer = reverse("admin:customers_customer_change", args=[console_shop])
    assert f'href="{customer}" id="customer-link"' in text


def test_staff_dispatch_from_the_order_page_then_a_cancel_is_refused(
    admin_client, console_shop
):
    # given a confirmed order, and one cancelled
    order_id, cancelled = place(console_shop), place(console_shop)
    for each in (order_id, cancelled):
        wait_until(partial(settled, each), "the orders to settle")
    post(admin_client, "orders_order_cancel", cancelled, reason="changed my mind")
    wait_until(
        lambda: getattr(saga_of(cancelled), "status", "") == "compensated", "the cancel"
    )
    # when staff dispatch the first from its page
    done = post(admin_client, "orders_order_dispatch", order_id)
    assert "Dispatch requested for 1 shipment(s)" in done.content.decode()
    # then it ships, and a cancel is refused with the reason
    wait_until(lambda: summary_of(order_id)["status"] == "shipped", "shipping")
    found = admin_client.get(order_page(order_id)).context["found"]
    assert found.verdict.startswith("Shipped ")
    assert found.shipping[-1].text.endswith("left the warehouse")
    refused = post(admin_client, "orders_order_cancel", order_id, reason="late")
    assert "Cancel refused: cannot cancel order" in refused.content.decode()
    # and neither page offers Dispatch any more (the shipped one, the cancelled one)
    for each in (order_id, cancelled):
        page = admin_client.get(order_page(each)).content.decode()
        assert 'id="dispatch-order"' not in page
    # and a cancelled order's dispatch, posted all the same, is refused with the reason
    refused = post(admin_client, "orders_order_dispatch", cancelled)
    assert "Dispatch refused:" in refused.content.decode()
    assert "is cancelled" in refused.content.decode()
    assert Shipment.objects.get(order_id=cancelled).status == "cancelled"


def test_the_dispatch_action_of_the_orders_list(admin_client, console_shop):
    order_id = place(console_shop)
    wait_until(lambda: settled(order_id), "the order to settle")
    done = admin_client.post(
        LIST,
        {"action": "dispatch_selected", "_selected_action": [str(order_id)]},
        follow=True,
    )
    assert "Dispatch requested for 1 shipment(s)" in done.content.decode()
    wait_until(
        lambda: Shipment.objects.get(order_id=order_id).status == "dispatched",
        "the dispatch",
    )


@pytest.fixture
def shipping_down(monkeypatch):
    """Shipping cannot create shipments (and parks the command at once) until
    ``state["down"]`` is False."""
    monkeypatch.setattr(registry.get("shipping"), "max_attempts", 1)
    real, state = shipping.handlers.tracking_number, {"down": True}

    def tracking(order_id):
        if state["down"]:
            raise ConnectionError("the carrier's label service timed out after 30 s")
        return real(order_id)

    monkeypatch.setattr(shipping.handlers, "tracking_number", tracking)
    return state


def test_charged_but_never_shipped_is_answered_in_two_page_loads_from_the_email(
    admin_client, console_shop, shipping_down
):
    # given an order charged, whose shipment could not be created
    order_id = place(console_shop)
    letter = wait_until(
        lambda: DeadLetter.objects.filter(type="shipping.CreateShipment").first(),
        "the shipment to be parked",
    )
    wait_until(
        lambda: (
            getattr(saga_of(order_id), "status", "") == "needs_attention"
            and summary_of(order_id)["payment_status"] == "paid"
        ),
        "its undo to be parked too, and the payment in the orders' view",
    )
    # when staff search the orders by the customer's email from the admin's home
    # page (page load 1)
    home = admin_client.get(reverse("admin:index")).content.decode()
    assert f'<form method="get" action="{LIST}">' in home and 'name="q"' in home
    listing = admin_client.get(LIST, {"q": EMAIL})
    (row,) = listing.context["cl"].result_list
    assert row.order_id == order_id and row.payment_status == "paid"
    # and open the order (page load 2)
    answer = admin_client.get(order_page(order_id))
    found, text = answer.context["found"], answer.content.decode()
    # then the page says it: paid, the shipment could not be created (parked, and
    # why), and the saga undoing the order waits for a person: shipping cannot cancel
    # either, so both of its commands are parked
    assert found.trouble
    assert "needs_attention at step 3 of 3, CreateShipment (undoing)" in found.verdict
    assert "Paid 19.00 EUR" in found.verdict
    assert f"shipping.CreateShipment is parked as dead letter #{letter.id}" in (
        found.verdict
    )
    assert "label service timed out" in found.verdict
    assert "Shipping has no shipment for this order" in text
    assert [s.state for s in found.sagas[0].steps] == ["done", "done", "undoing"]
    assert [d.warning for d in found.dead_letters] == ["", ""]  # the saga still runs
    # and once the carrier is back, a redrive of the parked undo from the same page
    # lets the saga finish: the charge is refunded and the order rejected, in words
    shipping_down["down"] = False
    undo = DeadLetter.objects.get(type="shipping.CancelShipment")
    done = post(admin_client, "orders_order_redrive", order_id, letter=undo.id)
    assert "Redriven 1, failed 0" in done.content.decode()
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = summary_of(order_id)
    assert (summary["status"], summary["payment_status"]) == ("rejected", "refunded")
    assert summary["reason"] == "the shipping service failed and could not finish"


def test_a_saga_needing_a_person_is_resolved_from_the_order_page_with_a_note(
    admin_client, console_shop, monkeypatch, settings
):
    # given a declined order whose stock cannot be released
    settings.ADMINS = [("Ops", "ops@example.com")]

    def held(order_id):
        raise ConnectionError("the stock database is unreachable")

    monkeypatch.setattr(inventory.handlers, "_held", held)
    order_id = place(console_shop, payment_method="pm_card_chargeDeclined")
    wait_until(
        lambda: getattr(saga_of(order_id), "status", "") == "compensating",
        "the release",
    )
    expire_overdue(now=timezone.now() + timedelta(minutes=3))
    saga = saga_of(order_id)
    assert saga is not None
    assert saga.status == "needs_attention"
    # when staff open the order
    answer = admin_client.get(order_page(order_id))
    text = answer.content.decode()
    assert (
        "Its saga needs a person: the stock service did not confirm the undo in time"
        in answer.context["found"].verdict
    )
    assert "Retry the undo of ReserveInventory" in text
    # then a resolve without a note is refused, and with one it is recorded
    resolve = ("orders_order_saga_resolve", order_id, saga.id)
    refused = post(admin_client, *resolve, note="")
    assert "Refused: say what was done" in refused.content.decode()
    done = post(admin_client, *resolve, note="released the 2 mugs by hand")
    assert "Saga resolved: now resolved." in done.content.decode()
    saga.refresh_from_db()
    assert saga.status == "resolved"
    assert saga.reason.endswith("released the 2 mugs by hand (by admin)")


def test_the_customer_page_lists_orders_tokens_and_points(admin_client, console_shop):
    # given a confirmed order (points awarded) and an API token
    order_id = place(console_shop)
    wait_until(lambda: settled(order_id), "the order to settle")
    wait_until(lambda: loyalty.balance(console_shop) == 19, "the points")
    tokens.issue(email=EMAIL, password="pw-of-ann-9")
    # when staff open the customer
    answer = admin_client.get(
        reverse("admin:customers_customer_change", args=[console_shop])
    )
    text = answer.content.decode()
    # then the orders, tokens and points are there, each linked
    assert order_page(order_id) in text and "confirmed" in text
    (token,) = answer.context["tokens"]
    assert token["live"] and token["prefix"].startswith("shp_")
    assert reverse("admin:customers_apitoken_change", args=[token["id"]]) in text
    assert "Loyalty points: 19" in text
    assert [e["kind"] for e in answer.context["point_entries"]] == ["award"]
    assert f"{LIST}?q={EMAIL}" in text
    # and it shows no password hash, and offers no delete (a delete announces nothing)
    assert Customer.objects.get().password not in text
    assert "deletelink" not in text
    delete = reverse("admin:customers_customer_delete", args=[console_shop])
    assert admin_client.get(delete).status_code == 403
    # and the page still saves the customer's details through the bus
    assert Customer.objects.get().email == EMAIL
