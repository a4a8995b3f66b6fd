"""``manage.py customers add``: the same password rules as the API's registration
(Django's AUTH_PASSWORD_VALIDATORS), with the reason on stderr and a non-zero exit."""

from __future__ import annotations

import pytest

from customers.models import Customer
from tests.support.servers import manage
from tests.support.storefront import assert_problem, storefront_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cli_env(transactional_db):
    """A ``manage.py`` subprocess's environment, on this test's database (development
    settings: they take the database from DATABASE_URL as it is given)."""
    from django.db import connection

    from processes.celery_worker import database_url

    if connection.vendor == "postgresql":
        url = database_url(connection.settings_dict, application_name="customers-cli")
    else:
        url = f"sqlite:///{connection.settings_dict['NAME']}"
    return {"DJANGO_SETTINGS_MODULE": "shop.settings.development", "DATABASE_URL": url}


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("x", "too short"),
        ("12345678901", "entirely numeric"),
        ("password123", "too common"),
        ("ann@example.com", "too similar"),
    ],
)
def test_the_cli_refuses_a_password_the_api_refuses(storefront, cli_env, password, why):
    # when staff add a customer with a password the rules refuse
    added = manage(
        "customers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--password",
        password,
        env=cli_env,
    )
    # then the command fails, saying why, and creates no account
    assert added.returncode != 0, added.stdout
    assert why in added.stderr, added.stderr
    assert "Traceback" not in added.stderr
    assert not Customer.objects.exists()
    # and the API refuses the same password for the same reason
    response = storefront.post(
        "/customers",
        json={"email": "ann@example.com", "name": "Ann", "password": password},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "password"]
    assert why in " ".join(e["msg"] for e in problem["errors"])
    assert not Customer.objects.exists()


def test_the_cli_adds_a_customer_whose_password_passes(cli_env):
    added = manage(
        "customers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--password",
        "correct horse battery",
        env=cli_env,
    )
    assert added.returncode == 0, added.stderr
    customer = Customer.objects.get()
    assert (customer.email, customer.name) == ("ann@example.com", "Ann")
    assert f"added customer ann@example.com id {customer.id}" in added.stdout
