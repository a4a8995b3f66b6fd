"""Registration and bearer tokens through real HTTP: tokens are random, stored only
as a digest, expire, and are revoked by the customer, by staff (admin action) or by
``manage.py customers revoke-tokens``; a deactivated customer's tokens stop working."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import pytest

from customers.contracts import UpdateCustomer
from customers.models import ApiToken, Customer
from events import bus
from events.models import LogEntry
from tests.support.storefront import (  # noqa: F401
    PASSWORD,
    Storefront,
    assert_problem,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def whoami(storefront: Storefront, token: str) -> int:
    """The status of an authenticated call made with this token."""
    return storefront.get(
        "/orders", headers={"Authorization": f"Bearer {token}"}
    ).status_code


def test_registering_answers_201_and_announces_the_customer(storefront):
    response = storefront.register("Ann@Example.com ", name="Ann")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ann@example.com" and body["name"] == "Ann"
    customer = Customer.objects.get(id=body["customer_id"])
    assert customer.check_password(PASSWORD)
    assert PASSWORD not in customer.password
    assert LogEntry.objects.filter(
        type="customers.CustomerRegistered", key=body["customer_id"]
    ).exists()


def test_a_taken_email_is_a_409(storefront):
    storefront.register("ann@example.com")
    problem = assert_problem(storefront.register("ANN@example.com"), 409)
    assert problem["type"].endswith("email-taken")
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("name", "   "),
        ("password", "short"),
        ("password", "x" * 129),
        ("name", "x" * 201),
    ],
)
def test_invalid_registrations_are_422_with_the_field(storefront, field, value):
    body = {"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    response = storefront.post("/customers", json={**body, field: value})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][-1] == field
    assert not Customer.objects.exists()


def test_a_token_is_random_expires_and_is_stored_only_as_a_digest(storefront):
    storefront.register("ann@example.com")
    first = storefront.login("ann@example.com")
    second = storefront.login("ann@example.com")
    assert (first.status_code, second.status_code) == (201, 201)
    token = first.json()["token"]
    assert token != second.json()["token"] and len(token) > 40
    stored = ApiToken.objects.get(prefix=token[:12])
    assert token not in (stored.digest, stored.prefix)
    expires = stored.expires_at
    assert timedelta(hours=23) < expires - timezone.now() <= timedelta(hours=24)
    assert whoami(storefront, token) == 200


def test_a_tokens_expiry_is_given_to_the_microsecond(storefront):
    storefront.register("ann@example.com")
    issued = storefront.login("ann@example.com").json()
    stored = ApiToken.objects.get(prefix=issued["token"][:12])
    assert parse_datetime(issued["expires_at"]) == stored.expires_at


def test_wrong_credentials_are_one_and_the_same_401(storefront):
    storefront.register("ann@example.com")
    wrong_password = storefront.login("ann@example.com", "not the password")
    unknown_email = storefront.login("bob@example.com")
    for response in (wrong_password, unknown_email):
        assert assert_problem(response, 401)["type"].endswith("invalid-credentials")
    assert wrong_password.json()["detail"] == unknown_email.json()["detail"]


def test_the_customer_revokes_their_token(storefront):
    storefront.register("ann@example.com")
    token = storefront.login("ann@example.com").json()["token"]
    other = storefront.login("ann@example.com").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert storefront.call("DELETE", "/tokens/current", headers=auth).status_code == 204
    assert whoami(storefront, token) == 401
    assert whoami(storefront, other) == 200  # only the one used
    assert_problem(storefront.call("DELETE", "/tokens/current", headers=auth), 401)


def test_an_expired_token_is_refused(storefront):
    storefront.register("ann@example.com")
    token = storefront.login("ann@example.com").json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = storefront.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer nonsense", "Basic YTpi", "Bearer shp_" + "x" * 43]
)
def test_malformed_or_unknown_tokens_are_401(storefront, header):
    assert_problem(storefront.get("/orders", headers={"Authorization": header}), 401)


def test_staff_revoke_all_of_a_customers_tokens(storefront):
    storefront.register("ann@example.com")
    token = storefront.login("ann@example.com").json()["token"]
    call_command("customers", "revoke-tokens", "ann@example.com")
    assert whoami(storefront, token) == 401


def test_staff_revoke_a_token_from_the_admin(storefront):
    storefront.register("ann@example.com")
    token = storefront.login("ann@example.com").json()["token"]
    staff = get_user_model().objects.create_superuser("staff", "s@example.com", "pw")
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/customers/apitoken/")
    assert listing.status_code == 200 and token[:12] in listing.content.decode()
    client.post(
        "/admin/customers/apitoken/",
        {
            "action": "revoke",
            "_selected_action": [str(ApiToken.objects.get().pk)],
        },
    )
    assert whoami(storefront, token) == 401


def test_a_deactivated_customer_can_neither_use_nor_get_tokens(storefront):
    storefront.register("ann@example.com")
    token = storefront.login("ann@example.com").json()["token"]
    customer = Customer.objects.get()
    customer.is_active = False
    bus.execute(
        UpdateCustomer(
            customer_id=customer.id,
            email=customer.email,
            name=customer.name,
            is_active=False,
        )
    )
    assert whoami(storefront, token) == 401
    assert_problem(storefront.login("ann@example.com"), 401)


def test_long_expired_tokens_are_pruned(storefront):
    storefront.register("ann@example.com")
    storefront.login("ann@example.com")
    storefront.login("ann@example.com")
    ApiToken.objects.filter(pk=ApiToken.objects.earliest("created_at").pk).update(
        expires_at=timezone.now() - timedelta(days=2)
    )
    call_command("customers", "prune-tokens")
    assert ApiToken.objects.count() == 1
