"""A storefront's view of the API for the contract tests: real HTTP to the live server
(``requests``), customers and tokens made through the API itself, and a wait for the
event platform to deliver what the requests caused (on checkpoints, never a sleep)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command

import requests

from events.delivery.checkpoints import pending_targets
from events.dispatch.current import get_dispatcher
from processes.waiting import wait_until

API = "/api/v1"
PASSWORD = "contract-tests-password"
ADDRESS = {
    "name": "Ann Example",
    "line1": "1 Main St",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Customer:
    email: str
    customer_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """Requests to ``base_url`` + ``/api/v1``, as a customer or anonymously."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        as_: Customer | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """``path`` is absolute (``/api/v1/...``), as the OpenAPI document names it."""
        sent = {**(as_.auth if as_ else {}), **(headers or {})}
        return self.session.request(
            method, self.url(path), headers=sent, timeout=30, **kwargs
        )

    def register(self, name: str) -> Customer:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        created = self.request(
            "POST",
            f"{API}/customers",
            json={"email": email, "name": name, "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        issued = self.request(
            "POST", f"{API}/tokens", json={"email": email, "password": PASSWORD}
        )
        assert issued.status_code == 201, issued.text
        return Customer(
            email=email,
            customer_id=str(created.json()["customer_id"]),
            token=issued.json()["token"],
        )

    def place_order(self, customer: Customer, sku: str, quantity: int = 1) -> str:
        placed = self.request(
            "POST",
            f"{API}/orders",
            as_=customer,
            json={
                "items": [{"sku": sku, "quantity": quantity}],
                "shipping_address": ADDRESS,
                "payment_method": "pm_card_visa",
            },
        )
        assert placed.status_code == 202, placed.text
        return str(placed.json()["order_id"])


def add_product(sku: str, *, stock: int = 1000, price: str = "12.50") -> None:
    call_command(
        "catalog", "add", sku, "--name", f"Product {sku}", "--price", price,
        "--stock", str(stock),
    )  # fmt: skip


def settle(timeout: float = 20.0) -> None:
    """Return once every subscription has handled everything in the log that it
    handles, including what handling it published in turn (the saga's commands and
    replies): no message of a type a subscription handles waits past its checkpoint.
    What has work is woken at each look rather than at the dispatcher's next sweep."""

    def settled() -> bool:
        waiting = pending_targets()
        get_dispatcher().wake(waiting)
        return not waiting

    wait_until(
        settled,
        "every subscription to handle what waits for it",
        timeout,
        explain=lambda: f"still waiting: {sorted(pending_targets())}",
    )
