"""Health checks: live answers without I/O; ready reports database, cache, broker and
consumers, and only a database outage makes the process unready; /health/consumers is
503 while a subscription is stalled or a queue has no live worker."""

from datetime import timedelta
from unittest import mock

from django.db import transaction
from django.utils import timezone

import pytest

from events.log import outbox
from events.models import LogEntry
from tests.effects.contracts import RunJob
from tests.support.storefront import Storefront, storefront_fixture  # noqa: F401
from tests.support.workers import celery_worker

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
        "checks": {
            "database": "ok",
            "cache": "ok",
            "broker": "not used",
            "consumers": "ok",
        },
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
        "checks": {
            "database": "ok",
            "cache": "ok",
            "broker": "unavailable",
            "consumers": "ok",
        },
    }


def test_a_database_outage_makes_it_unready(storefront: Storefront) -> None:
    with mock.patch("shop.api.health._database", side_effect=OSError("down")):
        response = storefront.get(f"{storefront.root}/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unready"
    assert response.json()["checks"]["database"] == "unavailable"


def waiting_job(*, minutes_ago: float) -> None:
    """A message for the ``w.runner`` subscription (topic ``w.jobs``), recorded
    ``minutes_ago`` and not handled: no dispatcher runs in these tests."""
    with transaction.atomic():
        (pending,) = outbox.publish(RunJob(key="stuck"))
    LogEntry.objects.filter(message_id=pending.message_id).update(
        recorded_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def test_a_message_waiting_past_its_threshold_is_a_stalled_consumer(
    storefront: Storefront,
) -> None:
    # given a message of w.runner's topic waiting for 10 minutes (default: 2)
    waiting_job(minutes_ago=10)
    # when
    ready = storefront.get(f"{storefront.root}/health/ready")
    consumers = storefront.get(f"{storefront.root}/health/consumers")
    # then ready stays in the pool but is not "ready"
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["consumers"] == "stalled: w.runner"
    # and the consumers' check fails, naming the subscription and its partition
    assert consumers.status_code == 503
    body = consumers.json()
    assert body["status"] == "stalled"
    assert body["problems"] == ["w.runner stalled"]
    runner = body["subscriptions"]["w.runner"]
    assert runner["status"] == "stalled"
    assert runner["threshold_seconds"] == 120.0
    assert 590 < runner["oldest_waiting_seconds"] < 3600
    (partition,) = runner["stalled_partitions"]
    assert partition["waiting_seconds"] == runner["oldest_waiting_seconds"]
    assert body["subscriptions"]["payments"]["status"] == "ok"
    assert body["queues"] == "not used"  # the in-process dispatcher


def test_each_subscription_has_its_own_threshold(
    storefront: Storefront, settings
) -> None:
    # given w.runner allowed an hour, and a message of its topic waiting 10 minutes
    settings.EVENTS_STALL_SECONDS_BY_SUBSCRIPTION = {"w.runner": 3600.0}
    waiting_job(minutes_ago=10)
    # when
    consumers = storefront.get(f"{storefront.root}/health/consumers")
    ready = storefront.get(f"{storefront.root}/health/ready")
    # then it is behind, not stalled
    assert consumers.status_code == 200
    runner = consumers.json()["subscriptions"]["w.runner"]
    assert (runner["status"], runner["threshold_seconds"]) == ("ok", 3600.0)
    assert runner["oldest_waiting_seconds"] > 590
    assert ready.json()["status"] == "ready"


def test_a_fresh_message_is_not_a_stall(storefront: Storefront) -> None:
    waiting_job(minutes_ago=0)
    consumers = storefront.get(f"{storefront.root}/health/consumers")
    assert consumers.status_code == 200
    assert consumers.json()["status"] == "ok"
    assert consumers.json()["problems"] == []


@pytest.mark.postgres
@pytest.mark.redis
def test_a_queue_with_no_live_worker_fails_the_consumers_check(
    storefront: Storefront, broker: str, settings
) -> None:
    # given the Celery dispatcher and a worker on the default queue only
    settings.EVENTS_DISPATCHER = "celery"
    with celery_worker(broker_url=broker) as default:
        # when the consumers are checked
        response = storefront.get(f"{storefront.root}/health/consumers")
        # then the payments queue has no worker: 503, though nothing waits yet
        assert response.status_code == 503
        body = response.json()
        assert body["problems"] == ["no worker on queue payments"]
        assert body["queues"] == {
            "celery": [f"{default.name}@{default_host(default)}"],
            "payments": [],
        }
        # and once a payments worker runs, every queue is served
        with celery_worker(
            broker_url=broker, pool="threads", queues=("payments",)
        ) as payments:
            served = storefront.get(f"{storefront.root}/health/consumers")
            assert served.status_code == 200, served.json()
            assert served.json()["queues"]["payments"] == [
                f"{payments.name}@{default_host(payments)}"
            ]
            assert served.json()["status"] == "ok"


def default_host(worker) -> str:
    """The host part of the worker's node name (``--hostname=<name>@%h``)."""
    return worker.wait_for_log(rf"{worker.name}@(\S+)").group(1).rstrip(":")
