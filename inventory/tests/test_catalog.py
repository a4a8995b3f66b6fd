"""``manage.py catalog add``: the product, its stock and StockChanged, together."""

from decimal import Decimal
from io import StringIO

from django.core.management import CommandError, call_command

import pytest

from events.models import LogEntry
from inventory.models import Product

pytestmark = pytest.mark.django_db(transaction=True)


def catalog(*args):
    out = StringIO()
    call_command("catalog", *args, stdout=out)
    return out.getvalue()


def test_add_then_update_a_product_announces_each_change():
    assert "added SKU-1" in catalog(
        "add", "SKU-1", "--name", "Mug", "--price", "12.50", "--stock", "3"
    )
    assert "updated SKU-1" in catalog(
        "add", "SKU-1", "--name", "Mug", "--price", "11.00", "--stock", "7"
    )
    product = Product.objects.get()
    assert (product.price, product.on_hand) == (Decimal("11.00"), 7)
    changes = LogEntry.objects.filter(type="inventory.StockChanged").order_by("offset")
    assert [c.payload["available"] for c in changes] == [3, 7]
    assert changes[1].payload["price"] == "11.00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--price", "abc", "--stock", "1"], "must be a decimal amount"),
        (["--price", "1.234", "--stock", "1"], "at most 2 decimals"),
        (["--price", "-1", "--stock", "1"], "at most 2 decimals"),
        (["--price", "NaN", "--stock", "1"], "at most 2 decimals"),
        (["--price", "1", "--stock", "-1"], "--stock must be 0 or more"),
    ],
)
def test_bad_input_changes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        catalog("add", "SKU-1", "--name", "Mug", *args)
    assert not Product.objects.exists() and not LogEntry.objects.exists()


def test_seed_demo_can_run_twice():
    for _ in range(2):
        out = StringIO()
        call_command("seed_demo", stdout=out)
    assert Product.objects.count() == 5
    assert "staff user exists" in out.getvalue()
