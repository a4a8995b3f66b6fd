"""Test helpers for the storefront API, driven through real HTTP.

``live_server`` (pytest-django) serves the WSGI app from a thread of the test process;
``requests`` talks to it, so every test goes through the real middleware, routing,
parsing and rendering. The ``dispatcher`` fixture (conftest) delivers events, and
helpers wait for a read model by its checkpoint, never by sleeping.

A test module imports the fixtures it uses; they are registered under their short
names (``storefront``, ``catalog``, ``shopper``, ``other_shopper``) while the imported
functions are named ``*_fixture``, so a test's parameters never shadow an import.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from django.core.management import call_command

import pytest
import requests
from pytest_django.live_server_helper import LiveServer
from requests.adapters import HTTPAdapter

from events.delivery.waiting import wait_for_messages
from events.models import LogEntry

PASSWORD = "correct horse battery"
ADDRESS = {
    "name": "Ann",
    "line1": "1 Main St",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


def delivered(subscription: str, **entries: Any) -> None:
    """Wait until ``subscription`` has processed the log entries matching the filter
    (there must be some)."""
    found = [row.envelope() for row in LogEntry.objects.filter(**entries)]
    assert found, f"no log entry matches {entries}"
    wait_for_messages(subscription, found, timeout=20)


class SourceAddressAdapter(HTTPAdapter):
    """Connections bound to one local address (urllib3's ``source_address``)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Shopper:
    customer_id: UUID
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Storefront:
    """A thin client of /api/v1 (paths are relative to it).

    ``source`` sends from another loopback address (``127.0.0.2``: all of 127/8 is
    this machine), so the server sees another client (``REMOTE_ADDR``)."""

    def __init__(self, root: str, *, source: str | None = None) -> None:
        self.root = root.rstrip("/")
        self.http = requests.Session()
        if source is not None:
            self.root = self.root.replace("//localhost:", "//127.0.0.1:")
            adapter = SourceAddressAdapter(source)
            self.http.mount("http://", adapter)
        self.base = f"{self.root}/api/v1"

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, *, shopper: Shopper | None = None, **kw: Any
    ) -> requests.Response:
        headers = {**(shopper.auth if shopper else {}), **kw.pop("headers", {})}
        url = path if path.startswith("http") else f"{self.base}{path}"
        return self.http.request(method, url, headers=headers, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)

    def register(self, email: str, *, name: str = "Ann") -> requests.Response:
        return self.post(
            "/customers", json={"email": email, "name": name, "password": PASSWORD}
        )

    def login(self, email: str, password: str = PASSWORD) -> requests.Response:
        return self.post("/tokens", json={"email": email, "password": password})

    def shopper(self, email: str | None = None) -> Shopper:
        """A registered customer with a token, known to orders' customer view."""
        email = email or f"{uuid4().hex[:10]}@example.com"
        registered = self.register(email)
        assert registered.status_code == 201, registered.text
        customer_id = UUID(registered.json()["customer_id"])
        token = self.login(email)
        assert token.status_code == 201, token.text
        delivered("orders.customers", key=str(customer_id))
        return Shopper(customer_id, email, token.json()["token"])

    def order_body(self, *items: tuple[str, int], **changes: Any) -> dict[str, Any]:
        return {
            "items": [{"sku": sku, "quantity": q} for sku, q in items],
            "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa",
            **changes,
        }

    def place(
        self, shopper: Shopper, *items: tuple[str, int], **kw: Any
    ) -> requests.Response:
        return self.post("/orders", shopper=shopper, json=self.order_body(*items), **kw)


@pytest.fixture(name="storefront")
def storefront_fixture(live_server: LiveServer) -> Iterator[Storefront]:
    client = Storefront(live_server.url)
    yield client
    client.close()


def add_product(sku: str, price: str, stock: int, name: str | None = None) -> None:
    call_command(
        "catalog",
        "add",
        sku,
        "--name",
        name or sku.title(),
        "--price",
        price,
        "--stock",
        str(stock),
    )


@pytest.fixture(name="catalog")
def catalog_fixture(dispatcher: object) -> dict[str, int]:
    """MUG (9.50, 10 in stock) and POSTER (120.00, one), known to orders' view."""
    products = {"MUG": ("9.50", 10), "POSTER": ("120.00", 1)}
    for sku, (price, stock) in products.items():
        add_product(sku, price, stock)
    delivered("orders.availability", type="inventory.StockChanged")
    return {sku: stock for sku, (_, stock) in products.items()}


@pytest.fixture(name="shopper")
def shopper_fixture(storefront: Storefront, dispatcher: object) -> Shopper:
    return storefront.shopper()


@pytest.fixture(name="other_shopper")
def other_shopper_fixture(storefront: Storefront, dispatcher: object) -> Shopper:
    return storefront.shopper()


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "correlation_id"} <= body.keys()
    assert body["correlation_id"] == response.headers["X-Correlation-ID"]
    assert "Traceback" not in response.text
    return body
