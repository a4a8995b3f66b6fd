"""Schemathesis over the OpenAPI document the API serves, through real HTTP.

The document is read from the WSGI app when this module is imported (the same one
``/api/v1/openapi.json`` serves; schemathesis then makes one test per operation).
Each operation gets the cases schemathesis builds from it (its examples, the
coverage of each constraint, valid and invalid values, other methods on the path,
then ``MAX_EXAMPLES`` fuzzed cases), sent with ``requests`` to the live WSGI server
(pytest-django's ``live_server``) with a real token of a seeded customer who has an
order, over a catalogue in stock. Every answer must pass:

- ``not_a_server_error``: no 5xx, ever;
- ``status_code_conformance``: the status is one the document lists for the operation;
- ``content_type_conformance``: the media type is the one documented for that status
  (``application/problem+json`` for the errors);
- ``response_schema_conformance``: the body validates against the documented schema;
- ``response_headers_conformance``: documented headers (``X-Correlation-ID``,
  ``Location``, ``Retry-After``, ...) are there when required and match their schema;
- ``unsupported_method``: a method the path does not document answers 405.

Generated SKUs, order ids and credentials would almost never name a real product,
order or customer, so part of the cases get real ones (chosen from the generated
value, so a replay picks the same): some orders are placed, some tokens issued, and
some product reads, order reads, histories and cancels reach real resources. The
per-customer rate limit is off here (its 429 is tested with the API), or the fuzzing
of POST /orders would mostly see 429s.

(``schemathesis.pytest.from_fixture``, which would load the document from the live
server, does not run under pytest 9.2: it sets ``Node._nodeid``, gone in pytest 9.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from .client import API, PASSWORD, Api, Customer, settle
from .snapshot import live_schema

pytestmark = pytest.mark.django_db(transaction=True)

# Fuzzed cases per operation, on top of the examples and coverage phases: the whole
# module takes seconds on SQLite (CI runs it on SQLite and on PostgreSQL).
MAX_EXAMPLES = 15
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.unsupported_method,
]
REVOKE = ("DELETE", f"{API}/tokens/current")

schema = schemathesis.openapi.from_dict(live_schema())


@dataclass
class Storefront:
    api: Api
    customer: Customer
    skus: tuple[str, ...]
    orders: list[str] = field(default_factory=list)

    def fresh_token(self) -> str:
        """A token of its own for the revoke operation, which would otherwise revoke
        the token every other case uses."""
        issued = self.api.request(
            "POST",
            f"{API}/tokens",
            json={"email": self.customer.email, "password": PASSWORD},
        )
        assert issued.status_code == 201, issued.text
        return str(issued.json()["token"])


@pytest.fixture
def storefront(api, ann, catalogue, settings) -> Storefront:
    settings.API_RATE_LIMITS = {"place_order": "off", "create_token": "off"}
    shop = Storefront(api=api, customer=ann, skus=catalogue)
    shop.orders.append(api.place_order(ann, catalogue[0]))
    settle()  # its read model exists: GET /orders/{id} can answer 200
    return shop


def _pick(value: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """A real id for about half of the generated values, chosen from the value, or
    None to keep the generated one."""
    digest = sum(value.encode())
    return choices[digest // 2 % len(choices)] if digest % 2 == 0 else None


def use_real_ids(case: schemathesis.Case, shop: Storefront) -> None:
    body, parameters = case.body, case.path_parameters or {}
    if case.path == f"{API}/orders" and isinstance(body, dict):
        items = body.get("items")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(sku := item.get("sku"), str):
                item["sku"] = _pick(sku, shop.skus) or sku
    if case.path == f"{API}/tokens" and isinstance(body, dict):
        email, password = body.get("email"), body.get("password")
        if isinstance(email, str) and isinstance(password, str):
            if _pick(email, ("real",)):
                body.update(email=shop.customer.email, password=PASSWORD)
    for name, choices in (("order_id", shop.orders), ("sku", shop.skus)):
        if isinstance(parameters.get(name), str):
            parameters[name] = _pick(parameters[name], choices) or parameters[name]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_answer_conforms_to_the_openapi_document(case, storefront):
    use_real_ids(case, storefront)
    token = storefront.customer.token
    if (case.method.upper(), case.path) == REVOKE:
        token = storefront.fresh_token()
    case.call_and_validate(
        base_url=storefront.api.base_url,
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
    )
