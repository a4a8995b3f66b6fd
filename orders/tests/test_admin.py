"""Orders' staff console through Django's test client: the orders list (search by id,
email, tracking number and payment reference; filters; newest first) and the
investigator page of a confirmed, a rejected and a cancelled order, with its actions
refused, with the reason, when the order's state forbids them."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

import pytest

from events import bus
from events.delivery.subscriptions import registry
from events.models import DeadLetter
from orders import queries
from orders.contracts import StartDispatch
from orders.models import CustomerView, OrderSummaryView
from processes.waiting import wait_until
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


def page(order_id, **query):
    url = reverse("admin:orders_ordersummaryview_change", args=[order_id])
    return url, query


def get_page(client, order_id, **query):
    url, query = page(order_id, **query)
    answer = client.get(url, query)
    assert answer.status_code == 200
    return answer


def act(client, order_id, what, **data):
    return client.post(
        reverse(f"admin:orders_order_{what}", args=[order_id]), data, follow=True
    )


def settle(order_id):
    wait_until(lambda: settled(order_id), f"order {order_id} to settle")
    return summary_of(order_id)


@pytest.fixture
def bob(console_shop):
    call_command(
        "customers",
        "add",
        "bob@example.com",
        "--name",
        "Bob",
        "--password",
        "pw-of-bob-9",
    )
    return wait_until(
        lambda: CustomerView.objects.filter(email="bob@example.com").first(),
        "Bob in orders' view",
    ).customer_id


def listed(client, **query):
    answer = client.get(LIST, query)
    assert answer.status_code == 200
    return [row.order_id for row in answer.context["cl"].result_list]


def test_staff_find_orders_by_email_id_tracking_and_payment_reference(
    admin_client, console_shop, bob
):
    # given two orders of Ann's and one of Bob's
    first, second = place(console_shop), place(console_shop)
    other = place(bob)
    for order_id in (first, second, other):
        settle(order_id)
    theirs = OrderSummaryView.objects.get(order_id=second)
    # then each way staff know an order finds it, newest first
    assert listed(admin_client, q=EMAIL) == [second, first]
    assert listed(admin_client, q="ANN@Example.com") == [second, first]
    assert listed(admin_client, q="ann@") == [second, first]
    assert listed(admin_client, q=str(first)) == [first]
    assert listed(admin_client, q=theirs.tracking_number) == [second]
    assert listed(admin_client, q=theirs.tracking_number.lower()) == [second]
    assert theirs.payment_reference.startswith("ch_")
    assert listed(admin_client, q=theirs.payment_reference) == [second]
    assert listed(admin_client, q="nobody@example.com") == []
    assert listed(admin_client) == [other, second, first]
    # and the list shows who ordered, the status, payment, shipment and total
    text = admin_client.get(LIST).content.decode()
    assert "bob@example.com" in text and EMAIL in text
    assert "19.00 EUR" in text and "confirmed" in text


def test_the_list_filters_by_status_payment_and_shipment(admin_client, console_shop):
    confirmed = place(console_shop)
    rejected = place(console_shop, payment_method="pm_card_chargeDeclined")
    for order_id in (confirmed, rejected):
        settle(order_id)
    assert listed(admin_client, status="rejected") == [rejected]
    assert listed(admin_client, payment_status="paid") == [confirmed]
    assert listed(admin_client, shipment_status="created") == [confirmed]
    assert listed(admin_client, shipment_status="none") == [rejected]
    day = timezone.localdate()
    assert listed(
        admin_client,
        created_at__year=day.year,
        created_at__month=day.month,
        created_at__day=day.day,
    ) == [rejected, confirmed]


def test_a_confirmed_orders_page_says_it_was_charged_and_waits_for_dispatch(
    admin_client, console_shop
):
    order_id = place(console_shop)
    summary = settle(order_id)
    answer = get_page(admin_client, order_id)
    found, text = answer.context["found"], answer.content.decode()
    # the verdict answers "charged but never shipped?" in one line
    assert found.verdict.startswith("Confirmed ")
    assert f"shipment {summary['tracking_number']} was created and waits" in (
        found.verdict
    )
    assert f"Paid 19.00 EUR (charge {summary['payment_reference']})" in found.verdict
    assert not found.trouble
    # lines and totals, where it ships, the payment and the shipment
    assert "MUG" in text and "9.50 EUR" in text and "19.00 EUR" in text
    assert "Ann, 1 Main St, 75001 Paris, FR" in text
    assert [f.type for f in found.payments] == [
        "payments.ChargePayment",
        "payments.PaymentSucceeded",
    ]
    assert "payments: handled" in text
    assert [f.type for f in found.shipping] == [
        "shipping.CreateShipment",
        "shipping.ShipmentCreated",
    ]
    # the saga: each step by name, done; the timeline; the tree; the order's events
    (saga,) = found.sagas
    assert [(s.name, s.state) for s in saga.steps] == [
        ("ReserveInventory", "done"),
        ("ChargePayment", "done"),
        ("CreateShipment", "done"),
    ]
    assert saga.timeline[-1].type == "orders.ConfirmOrder"
    assert 'id="causation-tree"' in text and found.trace.size >= 15
    # the saga's transitions read as the saga's own, inline in the tree
    transitions = [r for r in found.tree if r.node.envelope.type.startswith("sagas.")]
    assert transitions and all(
        [(x.subscription, x.state) for x in r.receipts]
        == [("orders.fulfilment", "transition")]
        for r in transitions
    )
    assert "orders.fulfilment: step ChargePayment done" in text
    assert "orders.fulfilment: completed" in text
    assert [e["type"] for e in found.events] == [
        "orders.OrderPlaced",
        "orders.OrderPaid",
        "orders.OrderConfirmed",
    ]
    assert found.customer_email == EMAIL


def test_a_rejected_orders_page_shows_the_decline_and_the_compensation(
    admin_client, console_shop
):
    order_id = place(console_shop, payment_method="pm_card_chargeDeclined")
    settle(order_id)
    found = get_page(admin_client, order_id).context["found"]
    assert found.verdict.startswith("Rejected ")
    assert "the card was declined" in found.verdict
    assert "Nothing was charged" in found.verdict
    assert [f.text for f in found.payments] == [
        "charge of 19.00 EUR to pm_card_chargeDeclined requested",
        "declined: the card was declined (card_declined)",
    ]
    (saga,) = found.sagas
    assert saga.status == "compensated"
    assert [(s.name, s.state) for s in saga.steps] == [
        ("ReserveInventory", "undone"),
        ("ChargePayment", "failed"),
        ("CreateShipment", "not reached"),
    ]
    assert saga.steps[0].undone.type == "inventory.InventoryReleased"
    assert saga.timeline[-1].type == "orders.RejectOrder"
    notes = [r.note for row in found.tree for r in row.receipts if r.note]
    assert "step ChargePayment failed: the card was declined" in notes
    assert "compensated: the card was declined" in notes


def test_the_page_shows_the_order_as_of_a_chosen_time(admin_client, console_shop):
    order_id = place(console_shop)
    settle(order_id)
    events = queries.history(order_id)
    placed = events[0]["recorded_at"]
    then = get_page(admin_client, order_id, as_of=placed.isoformat())
    assert then.context["found"].state_as_of["status"] == "placed"
    assert then.context["found"].state_as_of["version"] == 1
    before = get_page(
        admin_client, order_id, as_of=(placed - timedelta(hours=1)).isoformat()
    )
    assert "did not exist yet" in before.context["found"].as_of_error
    nonsense = get_page(admin_client, order_id, as_of="last tuesday")
    assert "not a time" in nonsense.context["found"].as_of_error


def test_staff_cancel_from_the_page_and_the_compensation_follows(
    admin_client, console_shop
):
    # given a confirmed order
    order_id = place(console_shop)
    settle(order_id)
    # when staff cancel it from its page, saying why
    done = act(admin_client, order_id, "cancel", reason="the customer called")
    assert "Cancel accepted" in done.content.decode()
    # then the saga undoes every step, and the page tells it
    wait_until(
        lambda: getattr(saga_of(order_id), "status", "") == "compensated",
        "the compensation",
    )
    # (the order records the refund on its own subscription, beside the saga's)
    wait_until(
        lambda: summary_of(order_id)["payment_status"] == "refunded",
        "the refund on the order",
    )
    found = get_page(admin_client, order_id).context["found"]
    assert found.state["status"] == "cancelled"
    assert found.state["reason"] == "the customer called (staff: admin)"
    assert [s.state for s in found.sagas[0].steps] == ["undone"] * 3
    assert found.payments[-1].type == "payments.PaymentRefunded"
    assert found.verdict.startswith("Cancelled ")
    assert "refunded since" in found.verdict


def test_a_cancel_the_order_refuses_is_shown_with_the_reason(
    admin_client, console_shop
):
    order_id = place(console_shop)
    settle(order_id)
    bus.execute(StartDispatch(order_id=order_id))  # staff started the dispatch
    done = act(admin_client, order_id, "cancel", reason="too late")
    text = done.content.decode()
    assert "Cancel refused: cannot cancel order" in text and "dispatch" in text
    assert summary_of(order_id)["status"] == "confirmed"


def test_cancelling_a_rejected_order_says_there_is_nothing_to_cancel(
    admin_client, console_shop
):
    # given a rejected order, whose page offers no cancel
    order_id = place(console_shop, payment_method="pm_card_chargeDeclined")
    settle(order_id)
    assert 'id="cancel-order"' not in get_page(admin_client, order_id).content.decode()
    version = summary_of(order_id)["version"]
    # when staff post a cancel all the same (a page open from before)
    done = act(admin_client, order_id, "cancel", reason="asked by phone")
    # then they are told nothing was done, and the order records nothing
    text = done.content.decode()
    assert f"Nothing to cancel: order {order_id} is already rejected." in text
    assert "Cancel accepted" not in text
    assert summary_of(order_id)["version"] == version


def test_saga_actions_on_a_saga_that_needs_nothing_are_refused_with_the_reason(
    admin_client, console_shop
):
    order_id = place(console_shop)
    settle(order_id)
    saga = saga_of(order_id)
    assert saga is not None
    url = reverse("admin:orders_order_saga_resolve", args=[order_id, saga.id])
    nothing = admin_client.post(url, {"note": " "}, follow=True)
    assert "Refused: say what was done" in nothing.content.decode()
    done = admin_client.post(url, {"note": "checked"}, follow=True)
    assert "is completed, not needs_attention" in done.content.decode()
    saga.refresh_from_db()
    assert saga.status == "completed"


def test_a_charge_parked_after_its_saga_ended_warns_before_anything_is_sent(
    admin_client, console_shop, monkeypatch
):
    # given a charge the provider keeps failing, parked at its first failure
    monkeypatch.setattr(registry.get("payments"), "max_attempts", 1)
    order_id = place(console_shop, payment_method="pm_card_error")
    letter = wait_until(
        lambda: DeadLetter.objects.filter(type="payments.ChargePayment").first(),
        "the charge to be parked",
    )
    # when the saga hears of it (the parked command fails its step at once) and
    # rejects the order
    settle(order_id)
    # then the page names the parked charge and warns that a redrive would act on a
    # finished order
    answer = get_page(admin_client, order_id)
    found = answer.context["found"]
    assert found.trouble and "ChargePayment is parked as dead letter" in found.verdict
    (parked,) = answer.context["found"].dead_letters
    assert parked.id == letter.id
    assert "has ended (compensated" in parked.warning
    assert parked.warning.endswith("would act on a finished order")
    assert "Redrive anyway" in answer.content.decode()
    # and the dead letters list links the letter to its order's page
    letters = admin_client.get(reverse("admin:events_deadletter_changelist"))
    linked = f'href="{page(order_id)[0]}" title="order {order_id}">order '
    assert f"{linked}{str(order_id)[:8]}…</a>" in letters.content.decode()
    # and a redrive sent without insisting sends nothing and says why
    done = act(admin_client, order_id, "redrive", letter=letter.id)
    assert f"Dead letter {letter.id} not sent" in done.content.decode()
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("parked", 1)
    # a letter of another order is refused
    other = place(console_shop)
    settle(other)
    refused = act(admin_client, other, "redrive", letter=letter.id)
    assert "not parked dead letters of this order" in refused.content.decode()


def test_staff_who_may_only_look_see_the_page_but_no_action(client, console_shop):
    order_id = place(console_shop)
    settle(order_id)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_ordersummaryview")
    )
    client.force_login(viewer)
    text = get_page(client, order_id).content.decode()
    assert 'id="verdict"' in text and 'id="cancel-form"' not in text
    refused = client.post(reverse("admin:orders_order_cancel", args=[order_id]))
    assert refused.status_code == 403
    assert summary_of(order_id)["status"] == "confirmed"


def test_an_unknown_order_is_not_found(admin_client, console_shop):
    url, _ = page("8f2b2f0e-6d0b-4c5f-9a57-6a1f7b7a0c11")
    assert admin_client.get(url).status_code == 404
    assert admin_client.get(LIST + "not-a-uuid/change/").status_code == 404


def run_orders(*args):
    out = StringIO()
    call_command("orders", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_orders_list_takes_the_admins_filters(console_shop, bob):
    confirmed = place(console_shop)
    rejected = place(console_shop, payment_method="pm_card_chargeDeclined")
    theirs = place(bob)
    for order_id in (confirmed, rejected, theirs):
        settle(order_id)
    lines = run_orders("list", "--customer", EMAIL)
    assert lines[-1] == "2 orders"
    assert [line.split()[0] for line in lines[1:-1]] == [str(rejected), str(confirmed)]
    assert EMAIL in lines[1] and "rejected" in lines[1]
    only = run_orders("list", "--customer", EMAIL, "--status", "confirmed")
    assert [line.split()[0] for line in only[1:-1]] == [str(confirmed)]
    assert run_orders("list", "--payment", "paid", "--limit", "1")[-1] == (
        "2 orders (the newest 1 shown; --limit)"
    )
    declined = run_orders("list", "--customer", EMAIL, "--payment", "declined")
    assert [line.split()[0] for line in declined[1:-1]] == [str(rejected)]
    short = run_orders("list", "--search", str(rejected)[:8])
    assert [line.split()[0] for line in short[1:-1]] == [str(rejected)]
    tracking = OrderSummaryView.objects.get(order_id=theirs).tracking_number
    assert run_orders("list", "--search", tracking)[1].startswith(str(theirs))
    with pytest.raises(CommandError, match="no customer has the email"):
        run_orders("list", "--customer", "nobody@example.com")
    with pytest.raises(CommandError, match="--limit must be 1 or more"):
        run_orders("list", "--limit", "0")
