"""The catalogue through real HTTP: public, SKU order, cursor pages with a capped
page size, money as decimal strings, available = on hand less what orders hold."""

from __future__ import annotations

import pytest

from inventory.models import Product
from tests.support.storefront import (  # noqa: F401
    Storefront,
    add_product,
    assert_problem,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def products() -> list[str]:
    skus = [f"SKU-{n:02}" for n in range(5)]
    for n, sku in enumerate(skus):
        add_product(sku, f"{n + 1}.5", 10 + n)
    return skus


def test_products_come_in_sku_order_a_page_at_a_time(storefront, products):
    seen, cursor = [], None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = storefront.get("/products", params=params)
        assert page.status_code == 200, page.text
        seen += [item["sku"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == products


def test_a_product_shows_its_price_as_a_decimal_string_and_what_is_available(
    storefront, products
):
    Product.objects.filter(sku="SKU-01").update(reserved=3)
    response = storefront.get("/products/SKU-01")
    assert response.status_code == 200
    assert response.json() == {
        "sku": "SKU-01",
        "name": "Sku-01",
        "price": "2.50",
        "currency": "EUR",
        "available": 8,
    }


def test_an_unknown_sku_is_a_404(storefront, products):
    assert_problem(storefront.get("/products/NOPE"), 404)


@pytest.mark.parametrize("page_size", ["0", "101", "99999999999999999999999", "x"])
def test_the_page_size_is_capped(storefront, products, page_size):
    response = storefront.get("/products", params={"page_size": page_size})
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "page_size"]


@pytest.mark.parametrize("cursor", ["!!", "AA", "A" * 201])
def test_a_cursor_we_did_not_make_is_a_422(storefront, products, cursor):
    response = storefront.get("/products", params={"cursor": cursor})
    assert_problem(response, 422)


def test_the_catalogue_needs_no_token(storefront, products):
    response = storefront.get(
        "/products", headers={"Authorization": "Bearer not-a-token"}
    )
    assert response.status_code == 200
    assert len(response.json()["items"]) == 5
