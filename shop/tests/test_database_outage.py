"""A database outage is a 503 problem with Retry-After, never a 500, on every API
operation that needs the database (``POST /orders`` above all), while
``/health/ready`` says 503 too; once the database is back, the same server takes
orders again.

For real: a PostgreSQL cluster of this module's own (``tests.support.pgcluster``, on a
spare port; the shared server is never touched) serves a shop started as a subprocess,
and the test stops the cluster at once (open sessions cut, as in a crash or a failover)
while the server is up and one request is in the middle of its work (waiting for an
order to settle, its session reading the database: that request's query fails on a
connection that died; the requests after it fail to connect). Two servers: gunicorn
with the production settings, and the development server of ``make run``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
import requests

from processes.waiting import wait_until
from tests.support.pgcluster import Cluster, own_cluster
from tests.support.servers import ShopServer, manage

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery"
ADDRESS = {
    "name": "Ann",
    "line1": "1 Main St",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}
GUNICORN = ("-m", "gunicorn", "shop.wsgi", "--workers", "1", "--threads", "4", "--bind")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with own_cluster() as made:
        yield made


# The provider takes its time: an order stays "placed", so a request waiting for it
# to settle is still reading the database when the database goes.
SLOW_PROVIDER = {"PAYMENT_PROVIDER_LATENCY_MS": "8000"}


def production(database_url: str) -> dict[str, str]:
    return {
        **SLOW_PROVIDER,
        "DJANGO_SETTINGS_MODULE": "shop.settings.production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "EVENTS_METRICS_TOKEN": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "EVENTS_DISPATCHER": "inprocess",  # no workers: the server delivers
        "REDIS_URL": "redis://127.0.0.1:1/0",  # none: the rate limiter fails open
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
    }


def development(database_url: str) -> dict[str, str]:
    return {
        **SLOW_PROVIDER,
        "DJANGO_SETTINGS_MODULE": "shop.settings.development",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
    }


def seeded(env: dict[str, str]) -> None:
    for command in (
        ("migrate", "--noinput"),
        ("catalog", "add", "MUG", "--name", "Mug", "--price", "9.50", "--stock", "50"),
        (
            "customers",
            "add",
            "ann@example.com",
            "--name",
            "Ann",
            "--password",
            PASSWORD,
        ),
    ):
        done = manage(*command, env=env)
        assert done.returncode == 0, done.stderr


def place(server: ShopServer, token: str, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(
        f"{server.url}/api/v1/orders",
        json={
            "items": [{"sku": "MUG", "quantity": 1}],
            "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa",
        },
        headers=headers,
        timeout=30,
    )


def accepted(server: ShopServer, token: str, timeout: float = 30) -> requests.Response:
    """POST /orders until it is accepted (the views fill, or the database is back),
    bounded; every answer before must be a retry-later, never a 500."""
    last: dict[str, requests.Response] = {}

    def answered() -> requests.Response | None:
        response = last["response"] = place(server, token)
        assert response.status_code in (202, 409, 503), response.text
        return response if response.status_code == 202 else None

    return wait_until(
        answered,
        "POST /orders to be accepted",
        timeout,
        interval=0.2,
        explain=lambda: last["response"].text,
    )


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    problem = response.json()
    assert problem["status"] == 503
    assert problem["type"].endswith("database-unavailable")
    assert "Traceback" not in response.text


@pytest.mark.parametrize("settings_of", [production, development])
def test_an_outage_answers_503_retry_later_then_orders_resume(cluster, settings_of):
    # given a shop serving from its own database, with a customer who has ordered
    env = settings_of(cluster.create_database(f"shop_{uuid4().hex[:8]}"))
    seeded(env)
    command = GUNICORN if settings_of is production else None
    with ShopServer(env=env, command=command) as server:
        token = requests.post(
            f"{server.url}/api/v1/tokens",
            json={"email": "ann@example.com", "password": PASSWORD},
            timeout=30,
        ).json()["token"]
        order_id = accepted(server, token).json()["order_id"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(
                requests.get,
                f"{server.url}/api/v1/orders/{order_id}",
                params={"until": "settled", "wait": "10"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            time.sleep(1)  # (ordering, not asserting: it is at work by then)
            # when the database goes down under the running server
            cluster.stop()
            interrupted = waiting.result()
        try:
            # then the request it interrupted is a 503 to retry later
            assert_unavailable(interrupted)
            # and so is placing an order, every time
            for _ in range(3):
                assert_unavailable(place(server, token))
            assert_unavailable(place(server, token, key=str(uuid4())))
            assert_unavailable(
                requests.get(f"{server.url}/api/v1/products", timeout=30)
            )
            ready = requests.get(f"{server.url}/health/ready", timeout=30)
            assert ready.status_code == 503
        finally:
            cluster.start()
        # and once it is back, the same server takes orders again
        assert accepted(server, token).json()["status"] == "placed"
        output = server.stop()
    # and no request of the outage was logged as a bug (an unhandled 500), each as an
    # outage
    assert "unhandled error" not in output, output
    assert "database unavailable on POST /api/v1/orders" in output, output
