"""No customer reaches another's resources: generated from the OpenAPI document.

Every operation whose path has a parameter is found by walking the document the API
serves. Each one either names a customer-owned resource by a parameter this module
knows how to fill with a real resource of customer A (``OWNED``), or is public on
purpose (``PUBLIC``); a new id path that is neither fails the suite, so nobody adds
an unprotected path silently. For every owned operation, customer B gets the same
404 problem+json as for an id that does not exist (never 403, never A's data: no
oracle for whether the id exists), an anonymous caller gets 401, and A's resource is
exactly as it was afterwards (B's cancel did nothing), while A's own call still
works. Lists that need a token show the caller's rows only, and an Idempotency-Key
replays a stored answer only to the customer who used it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from .client import ADDRESS, API, PROBLEM_JSON, Api, Customer, settle
from .snapshot import live_schema

pytestmark = pytest.mark.django_db(transaction=True)

METHODS = ("get", "put", "post", "delete", "patch")
# Path parameters that name a customer-owned resource; the test fills each with one of
# customer A's (``own_resources``). Add a new one here together with how to make it.
OWNED = frozenset({"order_id"})
# Id paths that are public on purpose (the catalogue).
PUBLIC = frozenset({("GET", f"{API}/products/{{sku}}")})
# Customer-scoped lists: the operation and the field that identifies a row.
LISTS = {("GET", f"{API}/orders"): "order_id"}
# What the generator must find, so that a renamed or vanished route cannot make the
# test pass by finding nothing.
EXPECTED_OWNED = frozenset(
    {
        ("GET", f"{API}/orders/{{order_id}}"),
        ("GET", f"{API}/orders/{{order_id}}/events"),
        ("POST", f"{API}/orders/{{order_id}}/cancel"),
    }
)


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                operation = {**item[method]}
                operation["parameters"] = shared + operation.get("parameters", [])
                yield method.upper(), path, operation


def path_parameters(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation["parameters"] if p["in"] == "path"}


def id_operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for method, path, operation in operations(schema)
        if path_parameters(operation)
    }


def owned_operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        key: operation
        for key, operation in id_operations(schema).items()
        if key not in PUBLIC and path_parameters(operation) <= OWNED
    }


def resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/schemas/Name``)."""
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = schema["components"]["schemas"][name]
    return node


def response_properties(operation: dict[str, Any], schema: dict[str, Any]) -> set:
    """The top-level properties of the operation's 200 JSON body."""
    content = operation["responses"].get("200", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    return set(resolve(body, schema).get("properties", {}))


def sample(node: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A plain valid value for a simple parameter or body schema (enough to pass
    validation, so that the ownership check is what answers)."""
    node = resolve(node, schema)
    node = resolve((node.get("anyOf") or node.get("oneOf") or [node])[0], schema)
    if "example" in node:
        return node["example"]
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {
            name: sample(node["properties"][name], schema)
            for name in node.get("required", [])
        }
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return max(node.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    if node.get("format") == "date-time":
        return datetime.now(UTC).isoformat()
    return "x"


def query_variants(
    operation: dict[str, Any], schema: dict[str, Any]
) -> list[dict[str, Any]]:
    """No query, then each documented query parameter on its own (e.g. ``as_of``,
    which answers from the event store, and ``wait``): every path to the data."""
    return [{}] + [
        {p["name"]: sample(p.get("schema", {}), schema)}
        for p in operation["parameters"]
        if p["in"] == "query"
    ]


def body_for(operation: dict[str, Any], schema: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return sample(content["application/json"].get("schema", {}), schema)


def problem_shape(response: Any, ids: dict[str, str]) -> dict[str, Any]:
    """The problem document with the requested ids blanked and the per-request
    correlation id dropped: equal for an existing and a missing id, or the answer
    tells B whether A's id exists."""
    text = response.text
    for name, value in ids.items():
        text = text.replace(value, f"{{{name}}}")
    problem = json.loads(text)
    problem.pop("correlation_id", None)
    return problem


@pytest.fixture
def schema() -> dict[str, Any]:
    return live_schema()


def test_every_id_path_is_owned_and_exercised_or_public_on_purpose(schema):
    # given the operations with a path parameter
    found = id_operations(schema)
    # then each one is known: owned (exercised below) or public on purpose
    unknown = sorted(
        f"{method} {path} {sorted(path_parameters(operation))}"
        for (method, path), operation in found.items()
        if (method, path) not in PUBLIC and not path_parameters(operation) <= OWNED
    )
    assert not unknown, (
        "new id path(s) that the IDOR test cannot exercise; add the parameter to "
        "OWNED with a way to make a resource of customer A, or the path to PUBLIC "
        f"if everyone may read it: {unknown}"
    )
    assert EXPECTED_OWNED <= set(owned_operations(schema)), (
        f"owned operations found: {sorted(owned_operations(schema))}"
    )


@pytest.fixture
def own_resources(api: Api, ann: Customer, catalogue: tuple[str, ...]) -> dict:
    """One resource of customer A for every parameter in OWNED."""
    order_id = api.place_order(ann, catalogue[0])
    settle()  # the fulfilment saga has run: nothing changes the order by itself now
    return {"order_id": order_id}


def snapshot_of(api: Api, owner: Customer, resources: dict[str, str]) -> list:
    """What A's own reads answer about A's resources (the state to compare)."""
    seen = []
    for (method, path), _ in sorted(owned_operations(live_schema()).items()):
        if method == "GET":
            response = api.request("GET", path.format(**resources), as_=owner)
            assert response.status_code == 200, (path, response.text)
            seen.append((path, response.json()))
    return seen


def test_another_customers_resources_answer_404_and_stay_unchanged(
    api, ann, bob, own_resources, schema
):
    # given A's resources as A sees them
    before = snapshot_of(api, ann, own_resources)
    missing = {name: str(uuid.uuid4()) for name in OWNED}
    # A's data that must never reach B (the id B sent may be echoed back to B).
    leaks = [ann.customer_id, ann.email]
    exercised = 0
    for (method, path), operation in sorted(owned_operations(schema).items()):
        body = body_for(operation, schema)
        for query in query_variants(operation, schema):
            # when B, and then nobody, asks for A's resource
            as_bob = api.request(
                method, path.format(**own_resources), as_=bob, params=query, json=body
            )
            anonymous = api.request(
                method, path.format(**own_resources), params=query, json=body
            )
            absent = api.request(
                method, path.format(**missing), as_=bob, params=query, json=body
            )
            # then B gets exactly what an id that does not exist gets: 404 problem
            where = f"{method} {path} {query}"
            assert as_bob.status_code == 404, (where, as_bob.status_code, as_bob.text)
            assert as_bob.headers["Content-Type"].startswith(PROBLEM_JSON), where
            assert as_bob.json()["status"] == 404, (where, as_bob.text)
            assert absent.status_code == 404, (where, absent.text)
            assert problem_shape(as_bob, own_resources) == problem_shape(
                absent, missing
            ), where
            assert not [leak for leak in leaks if leak in as_bob.text], where
            # and an anonymous caller is not let in either
            assert anonymous.status_code == 401, (where, anonymous.text)
            assert anonymous.headers["Content-Type"].startswith(PROBLEM_JSON), where
            assert not [leak for leak in leaks if leak in anonymous.text], where
            exercised += 1
    settle()
    # then A's resources are exactly as they were (B's cancel did nothing)
    assert snapshot_of(api, ann, own_resources) == before
    assert exercised >= len(EXPECTED_OWNED)


def test_the_owner_can_still_change_what_was_refused_to_others(
    api, ann, bob, own_resources, schema
):
    changes = [
        (method, path, operation)
        for (method, path), operation in sorted(owned_operations(schema).items())
        if method != "GET"
    ]
    assert changes, "no owned operation changes anything: nothing to check here"
    for method, path, operation in changes:
        url, body = path.format(**own_resources), body_for(operation, schema)
        # given B was refused
        assert api.request(method, url, as_=bob, json=body).status_code == 404
        # when A does the same
        done = api.request(method, url, as_=ann, json=body)
        # then it is accepted: the 404 was about the caller, not about the resource
        assert 200 <= done.status_code < 300, (method, path, done.text)


def all_rows(api: Api, path: str, caller: Customer) -> list[dict[str, Any]]:
    rows, cursor = [], None
    while True:
        page = api.request(
            "GET", path, as_=caller, params={"cursor": cursor} if cursor else {}
        )
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        cursor = page.json().get("next_cursor")
        if not cursor:
            return rows


def test_every_list_needing_a_token_shows_only_the_callers_rows(
    api, ann, bob, catalogue, schema
):
    # given orders of both customers
    placed = {
        ann.email: {api.place_order(ann, sku) for sku in catalogue},
        bob.email: {api.place_order(bob, catalogue[0])},
    }
    settle()
    secured_lists = {
        (method, path)
        for method, path, operation in operations(schema)
        if method == "GET"
        and operation.get("security")
        and not path_parameters(operation)
        and "items" in response_properties(operation, schema)
    }
    assert secured_lists == set(LISTS), (
        "the lists that need a token changed: add a new one to LISTS (with the "
        f"field naming its rows) so that it is checked: {sorted(secured_lists)}"
    )
    for (_, path), key in LISTS.items():
        for caller in (ann, bob):
            # when each customer lists
            rows = all_rows(api, path, caller)
            # then they see their own rows, all of them, and nobody else's
            assert {str(row[key]) for row in rows} == placed[caller.email], path


def test_an_idempotency_key_replays_only_to_the_customer_who_used_it(
    api, ann, bob, catalogue
):
    # given A placed an order with a key
    order = {
        "items": [{"sku": catalogue[0], "quantity": 1}],
        "shipping_address": ADDRESS,
        "payment_method": "pm_card_visa",
    }
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    first = api.request("POST", f"{API}/orders", as_=ann, headers=key, json=order)
    assert first.status_code == 202, first.text
    # when B sends the same key and body
    again = api.request("POST", f"{API}/orders", as_=bob, headers=key, json=order)
    # then B's request is B's own: a new order, never A's stored answer
    assert again.status_code == 202, again.text
    assert again.json()["order_id"] != first.json()["order_id"]
    assert "Idempotent-Replayed" not in again.headers
    assert first.json()["order_id"] not in again.text
