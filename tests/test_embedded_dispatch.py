"""The embedded run's in-process dispatcher learns of other processes' commits: a
product that staff add with ``manage.py catalog add`` (another process) can be ordered
over HTTP within the dispatcher's watch period, not at its next sweep.

PostgreSQL: the command runs as a real subprocess against the test database, as it
does beside ``make run``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

import pytest

from events.dispatch.current import set_dispatcher
from events.dispatch.inprocess import InProcessDispatcher
from processes.celery_worker import database_url
from processes.waiting import wait_until
from tests.support.storefront import Storefront, shopper_fixture, storefront_fixture  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
SWEEP = 120.0  # so long that only the watch can deliver within the test's bound


@pytest.fixture
def dispatcher(transactional_db: None) -> Iterator[InProcessDispatcher]:
    """The embedded server's dispatcher, watching the heads, with a sweep too slow to
    matter."""
    running = InProcessDispatcher(
        threads=settings.EVENTS_INPROCESS_THREADS,
        sweep_seconds=SWEEP,
        watch_seconds=settings.EVENTS_INPROCESS_WATCH_SECONDS,
    )
    set_dispatcher(running)
    running.start()
    yield running
    running.stop()
    set_dispatcher(None)


def catalog_add(sku: str) -> None:
    """``manage.py catalog add`` in a process of its own, on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings.test",
        "DATABASE_URL": database_url(
            connection.settings_dict, application_name="catalog-add"
        ),
    }
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "catalog",
            "add",
            sku,
            "--name",
            "Lamp",
            "--price",
            "30.00",
            "--stock",
            "3",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_product_added_by_another_process_is_orderable_well_before_the_sweep(
    storefront, shopper, dispatcher
):
    # given the storefront does not know the lamp yet
    order = storefront.order_body(("LAMP", 1))
    refused = storefront.post("/orders", shopper=shopper, json=order)
    assert refused.status_code == 422, refused.text
    # when staff add it from the command line (another process)
    catalog_add("LAMP")
    # then an order for it is accepted long before the next sweep (SWEEP seconds)
    answers = []

    def accepted() -> bool:
        answers.append(storefront.post("/orders", shopper=shopper, json=order))
        return answers[-1].status_code == 202

    wait_until(
        accepted,
        "an order for the lamp to be accepted",
        SWEEP / 4,
        interval=0.25,  # under the API rate limit of orders
        explain=lambda: answers[-1].text,
    )
    assert answers[-1].status_code == 202, answers[-1].text
