"""Fixtures of the contract tests: the API served by a real WSGI server (pytest-django's
``live_server``) with the in-process dispatcher delivering behind it, a catalogue,
and customers with real tokens, made through the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.live_server_helper import LiveServer

from .client import Api, Customer, add_product, settle

SKUS = ("MUG", "POSTER")


@pytest.fixture
def api(live_server: LiveServer, dispatcher: object) -> Iterator[Api]:
    client = Api(live_server.url)
    yield client
    client.session.close()


@pytest.fixture
def catalogue(api: Api) -> tuple[str, ...]:
    """Products with plenty of stock (the orders' availability view knows them once
    a customer fixture has settled)."""
    for sku in SKUS:
        add_product(sku)
    return SKUS  # delivered with the customers, who settle()


@pytest.fixture
def ann(api: Api, catalogue: tuple[str, ...]) -> Customer:
    customer = api.register("Ann")
    settle()  # the orders' customer view knows her before she orders
    return customer


@pytest.fixture
def bob(api: Api, catalogue: tuple[str, ...]) -> Customer:
    customer = api.register("Bob")
    settle()
    return customer
