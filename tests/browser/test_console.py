"""The staff console in Chromium, as staff use it: log in, find an order by the
customer's email, open it, read the saga's timeline and the causation tree, cancel
it and see the compensation arrive; a dead-letter group redriven. The shop runs with
the in-process dispatcher beside the live server, so what staff do is delivered.

Each test saves screenshots of the pages it reads in ``var/screenshots/`` (not
committed). The admin's behaviour is covered by client tests (``orders/tests/
test_admin.py``, ``shop/tests/test_admin.py``, ``events/tests/test_admin.py``);
these few check that the pages work in a browser, end to end."""

from __future__ import annotations

from functools import partial

import pytest

import loyalty.handlers
from events.delivery.subscriptions import registry
from events.models import DeadLetter
from loyalty.models import PointEntry
from processes.waiting import wait_until
from tests.browser.support import SCREENSHOTS
from tests.support.console import (
    EMAIL,
    console_shop_fixture,  # noqa: F401
    place,
    settled,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREEN = {"width": 1440, "height": 900}  # a staff member's screen


def shot(page, name):
    """A screenshot of the whole page, as wide as a staff member's screen."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)


def reload_until(page, selector, text, timeout=20.0):
    """Reload the page until ``selector`` holds ``text`` (the page is drawn on the
    server: only a reload shows what was delivered since)."""

    def shown() -> bool:
        if text in page.inner_text(selector):
            return True
        page.reload()
        return False

    wait_until(shown, f"{selector} to show {text!r}", timeout, interval=0.2)


def test_staff_find_an_order_by_email_read_it_cancel_it_and_see_it_undone(
    staff_page, console_shop
):
    # given a confirmed order and a rejected one of Ann's
    rejected = place(console_shop, payment_method="pm_card_chargeDeclined")
    order_id = place(console_shop)
    for each in (rejected, order_id):
        wait_until(partial(settled, each), "the orders to settle")
    page = staff_page
    page.set_viewport_size(SCREEN)
    # when staff search the orders by her email, from the admin's home page
    page.fill("#find-order-q", EMAIL)
    shot(page, "home")
    with page.expect_navigation():  # page load 1: the orders she placed
        page.press("#find-order-q", "Enter")
    page.wait_for_selector("#result_list")
    assert page.input_value("#searchbar") == EMAIL
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert "confirmed" in rows.nth(0).inner_text()
    assert "rejected" in rows.nth(1).inner_text()
    shot(page, "orders-list")
    # and open the confirmed one (page load 2)
    with page.expect_navigation():
        rows.nth(0).locator("a").first.click()
    page.wait_for_selector("#verdict")
    # then one page says what happened, with the saga and everything it caused
    assert "waits for staff to dispatch it" in page.inner_text("#verdict")
    steps = page.locator("#order-saga table.steps tbody tr")
    assert [steps.nth(n).locator("td").first.inner_text() for n in range(3)] == [
        "1. ReserveInventory",
        "2. ChargePayment",
        "3. CreateShipment",
    ]
    assert "orders.ConfirmOrder" in page.inner_text("#order-saga ol.timeline")
    tree = page.locator("#causation-tree tbody tr")
    assert tree.count() >= 15
    assert "payments: handled" in page.inner_text("#causation-tree")
    page.click("#causation-tree tr[data-type='payments.PaymentSucceeded'] summary")
    assert "payment_reference" in page.inner_text("#causation-tree")
    # and the page fits the window: the deep tree scrolls in its own box
    assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
    shot(page, "order-confirmed")
    # when staff cancel it, saying why
    page.fill("#cancel-reason", "the customer called")
    page.click("#cancel-order")
    page.wait_for_selector("#verdict")
    assert "Cancel accepted" in page.inner_text(".messagelist")
    # then the compensation arrives: every step undone, the payment refunded
    reload_until(page, "#order-saga", "compensated")
    assert page.inner_text("#order-status").startswith("cancelled")
    states = page.locator("#order-saga td.state").all_inner_texts()
    assert states == ["undone", "undone", "undone"]
    assert "refunded 19.00 EUR" in page.inner_text("#order-payment-facts")
    shot(page, "order-cancelled")
    # and the rejected order's page tells the decline and its compensation
    page.go_back()
    page.goto(f"/admin/orders/ordersummaryview/{rejected}/change/")
    assert "Rejected" in page.inner_text("#verdict")
    assert "declined: the card was declined (card_declined)" in page.inner_text(
        "#order-payment-facts"
    )
    shot(page, "order-rejected")
    page.watch.assert_clean()


def test_staff_redrive_a_dead_letter_group(
    staff_page, console_shop, monkeypatch, settings
):
    # given three confirmed orders whose points loyalty could not award, parked (one
    # at a time: the outage detection is set not to take three alike for an outage)
    settings.EVENTS_OUTAGE_KEYS = 99
    monkeypatch.setattr(registry.get("loyalty"), "max_attempts", 1)
    real, down = loyalty.handlers.points_for, {"yes": True}

    def points(amount):
        if down["yes"]:
            raise ConnectionError("the points ledger timed out after 30 s")
        return real(amount)

    monkeypatch.setattr(loyalty.handlers, "points_for", points)
    orders = [place(console_shop) for _ in range(3)]
    for order_id in orders:
        wait_until(partial(settled, order_id), "the orders to be confirmed")
    wait_until(
        lambda: DeadLetter.objects.filter(subscription="loyalty").count() == 3,
        "three parked point awards",
    )
    page = staff_page
    page.set_viewport_size(SCREEN)
    # when staff open the dead letters by failure, and the group
    page.goto("/admin/events/deadletter/")
    page.click("#by-failure")
    page.wait_for_selector("#failure-groups")
    assert "orders.OrderConfirmed" in page.inner_text("#result_list")
    page.click("#result_list a.group-link")
    page.wait_for_selector("#failure-group")
    assert page.inner_text("#group-count").startswith("3")
    assert page.locator("#result_list a[title^='order ']").count() == 3
    shot(page, "dead-letter-group")
    # and redrive it once the ledger is back
    down["yes"] = False
    page.click("#redrive-group")
    page.wait_for_selector(".messagelist")
    # then all three are handled: each order has its points
    assert "Redriven 3, failed 0" in page.inner_text(".messagelist")
    awarded = PointEntry.objects.filter(kind=PointEntry.Kind.AWARD)
    assert set(awarded.values_list("order_id", flat=True)) == set(orders)
    shot(page, "dead-letter-group-redriven")
    page.watch.assert_clean()
