"""The OpenAPI document tells the whole contract: every operation, every error as a
problem+json response; the docs page uses ninja's bundled assets, no CDN."""

from __future__ import annotations

import pytest

from tests.support.storefront import Storefront, storefront_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
PROBLEM = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}


@pytest.fixture
def schema(storefront: Storefront) -> dict:
    response = storefront.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict) -> dict[str, tuple[str, str, dict]]:
    return {
        op["operationId"]: (method, path, op)
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    }


def test_every_operation_of_the_contract_is_there(schema):
    assert {
        (method.upper(), path) for method, path, _ in operations(schema).values()
    } == {
        ("POST", "/api/v1/customers"),
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/current"),
        ("GET", "/api/v1/products"),
        ("GET", "/api/v1/products/{sku}"),
        ("POST", "/api/v1/orders"),
        ("GET", "/api/v1/orders"),
        ("GET", "/api/v1/orders/{order_id}"),
        ("GET", "/api/v1/orders/{order_id}/events"),
        ("POST", "/api/v1/orders/{order_id}/cancel"),
    }


def test_every_error_response_is_a_documented_problem(schema):
    for name, (_, path, op) in operations(schema).items():
        codes = {int(code) for code in op["responses"]}
        assert {400, 422, 500} <= codes, name
        if op.get("security"):
            assert 401 in codes, name
        if "requestBody" in op:
            assert {413, 415} <= codes, name
        if "{" in path:
            assert 404 in codes, name
        for code, answer in op["responses"].items():
            if int(code) >= 400:
                assert answer["content"] == PROBLEM, (name, code)
    assert "429" in operations(schema)["place_order"][2]["responses"]
    assert "409" in operations(schema)["cancel_order"][2]["responses"]
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "correlation_id",
    }


def test_public_operations_need_no_token_and_the_rest_do(schema):
    public = {
        name
        for name, (_, _, op) in operations(schema).items()
        if not op.get("security")
    }
    assert public == {
        "register_customer",
        "create_token",
        "list_products",
        "get_product",
    }
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


def test_the_docs_use_ninjas_bundled_assets(storefront):
    page = storefront.get("/docs")
    assert page.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    asset = storefront.get(f"{storefront.root}/static/ninja/swagger-ui-bundle.js")
    assert asset.status_code == 200
