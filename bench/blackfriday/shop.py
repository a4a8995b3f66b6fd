"""The shop the Black Friday bench sells from: emptied, stocked and populated before
each phase, the same way each time, and the order mix both phases place.

Stock and customers go in as an operator puts them in (``manage.py catalog add`` and
``customers add``), then the bench waits until every subscription has processed them:
orders' views must know the products and customers before PlaceOrder accepts them,
and notifications' directory before it can address a mail.

The mix (the same orders in both phases, but for their ids):

* one or two lines of the ``PLENTY`` products (stock that never runs out), customers
  and quantities from a seeded random generator;
* every ``DOORBUSTER_EVERY``-th order also takes one unit of ``DOORBUSTER``, stocked
  for about half of them: refused at accept once orders' availability view shows it
  gone, or rejected by the saga (InventoryShort) when the view lagged; never oversold;
* every ``DECLINED_EVERY``-th order pays with ``pm_card_chargeDeclined``: rejected by
  the saga after the provider's answer, its stock released (a compensation under
  load).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from uuid import UUID, uuid4

from django.apps import apps
from django.core.management import call_command
from django.db import connection

from orders.contracts import Address, OrderItem, PlaceOrder
from orders.models import CustomerView
from payments.provider import DECLINES, SUCCEEDS

PLENTY = tuple(f"BF-{n:02d}" for n in range(1, 21))
PLENTY_STOCK = 1_000_000
DOORBUSTER = "BF-DOORBUSTER"
DOORBUSTER_EVERY = 5  # every 5th order also wants the doorbuster
DECLINED_EVERY = 20  # every 20th order pays with a card that is declined
CUSTOMERS = 50
# Apps whose tables a phase empties: the platform's and the shop's (Django's own
# tables, migrations and content types stay).
KEEP_APPS = {"admin", "auth", "contenttypes", "sessions", "messages", "staticfiles"}
ADDRESS = Address(
    name="Black Friday",
    line1="1 Main St",
    city="Paris",
    postal_code="75001",
    country="FR",
)


def reset() -> None:
    """Empty every table of the platform and the shop's apps (and restart ids)."""
    existing = set(connection.introspection.table_names())
    tables = sorted(
        model._meta.db_table
        for config in apps.get_app_configs()
        if config.label not in KEEP_APPS
        for model in config.get_models(include_auto_created=True)
        if model._meta.managed and model._meta.db_table in existing
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def doorbuster_stock(orders: int) -> int:
    """About half the orders that want it get one."""
    return max(1, orders // DOORBUSTER_EVERY // 2)


def stocked(*, orders: int) -> dict[str, int]:
    """The stock each product is put in with."""
    return {**dict.fromkeys(PLENTY, PLENTY_STOCK), DOORBUSTER: doorbuster_stock(orders)}


def seed(*, orders: int) -> None:
    """Stock the catalogue and register the customers (their events are published:
    wait for the subscriptions before placing orders)."""
    for number, sku in enumerate(PLENTY, start=1):
        price = f"{5 + number * 3}.99"
        _manage(
            "catalog",
            "add",
            sku,
            f"--name=Deal {number}",
            f"--price={price}",
            f"--stock={PLENTY_STOCK}",
        )
    _manage(
        "catalog",
        "add",
        DOORBUSTER,
        "--name=Doorbuster TV",
        "--price=199.00",
        f"--stock={doorbuster_stock(orders)}",
    )
    for number in range(CUSTOMERS):
        _manage(
            "customers",
            "add",
            f"shopper{number}@bench.invalid",
            f"--name=Shopper {number}",
            "--password=bench-shopper-password",
        )


def _manage(*args: str) -> None:
    call_command(*args, stdout=io.StringIO())


def customer_ids() -> list[UUID]:
    """The customers orders knows (its view), in a stable order."""
    return list(
        CustomerView.objects.order_by("customer_id").values_list(
            "customer_id", flat=True
        )
    )


@dataclass(frozen=True)
class Planned:
    """One order of the schedule."""

    number: int
    command: PlaceOrder
    declined: bool
    doorbuster: bool


def plan(*, orders: int, customers: list[UUID], seed: int) -> list[Planned]:
    """The orders of a phase, in placing order: the doorbuster and declined orders at
    fixed places, lines and customers from the seeded generator (same seed, same
    orders but for their new ids)."""
    rng = random.Random(seed)
    planned = []
    for number in range(orders):
        skus = rng.sample(PLENTY, rng.choice((1, 2)))
        items = [OrderItem(sku=sku, quantity=rng.randint(1, 3)) for sku in skus]
        doorbuster = number % DOORBUSTER_EVERY == 2
        if doorbuster:
            items.append(OrderItem(sku=DOORBUSTER, quantity=1))
        declined = number % DECLINED_EVERY == 7
        command = PlaceOrder(
            order_id=uuid4(),
            customer_id=rng.choice(customers),
            items=tuple(items),
            shipping_address=ADDRESS,
            payment_method=DECLINES if declined else SUCCEEDS,
        )
        planned.append(Planned(number, command, declined, doorbuster))
    return planned


def warm_up(*, count: int, customers: list[UUID]) -> list[Planned]:
    """Untimed orders placed before the clock starts (``bench.blackfriday.load``): one
    unit of one ``PLENTY`` product each, the last one paid with the declined card, so
    that between them they take every path of a journey (confirmation and
    compensation) and never the doorbuster's stock."""
    return [
        Planned(
            number=-count + n,
            command=PlaceOrder(
                order_id=uuid4(),
                customer_id=customers[n % len(customers)],
                items=(OrderItem(sku=PLENTY[n % len(PLENTY)], quantity=1),),
                shipping_address=ADDRESS,
                payment_method=DECLINES if n == count - 1 else SUCCEEDS,
            ),
            declined=n == count - 1,
            doorbuster=False,
        )
        for n in range(count)
    ]
