"""Health checks: live answers without I/O; ready reports database, cache and broker,
and only a database outage makes the process unready."""

from unittest import mock

import pytest

from tests.storefront import Storefront, storefront_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_answers(storefront: Storefront) -> None:
    response = storefront.get(f"{storefront.root}/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Correlation-ID"]


def test_ready_reports_each_dependency(storefront: Storefront) -> None:
    response = storefront.get(f"{storefront.root}/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok", "broker": "not used"},
    }


def test_a_broker_outage_leaves_the_api_ready_but_degraded(
    storefront: Storefront, settings
) -> None:
    # given the Celery dispatcher with a broker nobody listens on
    settings.EVENTS_DISPATCHER = "celery"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    # when
    response = storefront.get(f"{storefront.root}/health/ready")
    # then orders can still be placed: the process stays in the pool
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "cache": "ok", "broker": "unavailable"},
    }


def test_a_database_outage_makes_it_unready(storefront: Storefront) -> None:
    with mock.patch("shop.api.health._database", side_effect=OSError("down")):
        response = storefront.get(f"{storefront.root}/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unready"
    assert response.json()["checks"]["database"] == "unavailable"
