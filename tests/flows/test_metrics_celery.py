"""The shop's metrics as Prometheus scrapes a deployment: gunicorn's /metrics (two
workers, summed through the multiprocess directory, with the database's gauges) and
each Celery worker program's own metrics server, after an order placed over HTTP goes
all the way through real workers on PostgreSQL and Redis.

Every metric name the alert rules and the dashboard query (deploy/prometheus,
deploy/grafana) must be among the names these scrapes expose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from django.db import connection

import pytest

from orders.models import OrderSummaryView
from processes.waiting import wait_until
from tests.support import workers
from tests.support.monitoring import queried_metrics
from tests.support.scrapes import Exposition, scrape
from tests.support.servers import ShopServer, free_port
from tests.support.storefront import Storefront, add_product

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]
TOKEN = "m" * 40
TIMEOUT = 60.0
JOURNEY = {"journey": "orders.settled", "end": "orders.OrderConfirmed"}


def metrics_env(directory: Path, port: int) -> dict[str, str]:
    return {
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "EVENTS_WORKER_METRICS_PORT": str(port),
        "EVENTS_METRICS_TOKEN": TOKEN,
    }


# The default worker drains each subscription on one thread per pool child: fewer
# database sessions on a PostgreSQL shared with other test runs.
FEW_SESSIONS = {"EVENTS_WORKER_THREADS": "1"}


@pytest.fixture
def web(broker: str, tmp_path: Path) -> Iterator[ShopServer]:
    """gunicorn with two workers, as production runs it (./gunicorn.conf.py's hooks
    clear and keep the web program's multiprocess directory)."""
    server = ShopServer(
        env={
            "DJANGO_SETTINGS_MODULE": "shop.settings.test",
            "DATABASE_URL": workers.database_url(
                connection.settings_dict, application_name="metrics-web"
            ),
            "REDIS_URL": broker,
            "EVENTS_DISPATCHER": "celery",
            "EVENTS_WAKE": "notify",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web"),
            "EVENTS_METRICS_TOKEN": TOKEN,
        },
        command=("-m", "gunicorn", "shop.wsgi", "--workers", "2", "--bind"),
    )
    with server:
        yield server


def test_an_order_shows_in_the_metrics_the_rules_and_the_dashboard_query(
    start_workers, web, tmp_path, settings
):
    # given the shop's workers, each serving its metrics, and gunicorn
    settings.EVENTS_WAKE = "notify"
    ports = {"default": free_port(), "payments": free_port() + 1}
    shop = start_workers(
        extra_env={
            "default": {**metrics_env(tmp_path / "default", ports["default"])}
            | FEW_SESSIONS,
            "payments": metrics_env(tmp_path / "payments", ports["payments"]),
        }
    )
    for role, worker in (("default", shop.default), ("payments", shop.payments)):
        worker.wait_for_log(rf"serving metrics on port {ports[role]}")
    add_product("MUG", "9.50", 10)
    storefront = Storefront(web.url)
    # when a customer registers and orders over HTTP, and the order is confirmed
    shopper = storefront.shopper()
    placed = storefront.place(shopper, ("MUG", 1))
    assert placed.status_code == 202, placed.text
    order_id = UUID(placed.json()["order_id"])
    wait_until(
        lambda: OrderSummaryView.objects.filter(
            order_id=order_id, status="confirmed"
        ).exists(),
        "the order to be confirmed",
        timeout=TIMEOUT,
    )
    storefront.get(f"/orders/{order_id}", shopper=shopper)

    # then the journey was timed once, in whichever program confirmed it
    def scrapes() -> dict[str, Exposition]:
        return {
            "web": scrape(f"{web.url}/metrics", token=TOKEN),
            **{
                role: scrape(f"http://127.0.0.1:{port}/metrics", token=TOKEN)
                for role, port in ports.items()
            },
        }

    wait_until(
        lambda: (
            sum(
                s.value("events_journey_seconds_count", **JOURNEY)
                for s in scrapes().values()
            )
            == 1
        ),
        "the journey to be observed",
        timeout=TIMEOUT,
    )
    scraped = scrapes()
    # each program counts what it did: payments charged, the default worker the rest,
    # gunicorn answered the requests (summed over its two workers)
    handled = "events_messages_handled_total"
    assert scraped["payments"].value(handled, subscription="payments") >= 1
    assert scraped["default"].value(handled, subscription="orders.fulfilment") >= 1
    assert scraped["default"].value(handled, subscription="payments") == 0
    responses = "django_http_responses_total_by_status_total"
    assert scraped["web"].value(responses, status="202") >= 1
    assert scraped["web"].value(responses, status="201") >= 2  # customer, token
    # and every metric the rules and the dashboard query is exposed
    exposed = set().union(*(s.names() for s in scraped.values()))
    assert queried_metrics() - exposed == set()
    for role, exposition in scraped.items():
        print(f"--- {role} ---")
        print(
            "\n".join(
                exposition.lines(
                    "events_messages_",
                    "events_handled_latency_seconds_count",
                    "events_handler_duration_seconds_count",
                    "events_journey_seconds_count",
                    "events_journey_seconds_sum",
                    'events_consumer_lag_seconds{partition="0"',
                    "events_dead_letters",
                    "events_sagas",
                    "events_subscription_paused",
                    responses,
                )
            )
        )
