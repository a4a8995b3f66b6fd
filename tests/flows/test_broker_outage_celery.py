"""Broker outages with charges in flight: no worker dies, every order finishes.

The shop's two workers (``conftest.start_workers``: prefork on the default queue with
the beat, threads on ``payments``, as the Procfile) run against a Redis server of this
test's own (``processes.servers.RedisServer``, on a spare port), never the shared
one: three times, the test SIGKILLs it while the payments worker has drain tasks
running (received, so unacknowledged: ``acks_late``), places orders while it is down,
waits until both workers have lost the connection and failed to connect again, and
starts it again, empty, as a broker that lost its memory.

Celery 5.7.0 died here: on the lost connection its consumer ran ``collect()`` and then
``close()`` on the same connection; ``collect()`` had detached the transport
(``transport.client = None``) but left the channel open when its pending ``BRPOP``
read failed, so ``close()`` restored the unacknowledged messages through a new Redis
pool built from ``None`` (``AttributeError: 'NoneType' object has no attribute
'hostname'``), which is no connection error, so the worker stopped with "Unrecoverable
error". Whether an outage hit that path depended on which of the worker's Redis
connections saw the loss first: about one outage in two. The shop pins Celery 5.6.3
(``requirements.txt``), whose consumer only collects: on 5.7.0 this test failed in 3
runs of 3 (the payments worker exited in the first outage), on 5.6.3 it passes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.dispatch.celery import CeleryDispatcher
from events.dispatch.current import set_dispatcher
from events.models import DeadLetter, SagaInstance
from orders.models import OrderSummaryView
from processes.groups import spare_port
from processes.servers import RedisServer, ServerFailed
from processes.waiting import wait_until
from tests.support.services import unavailable
from tests.support.workers import Worker, celery_broker

from .test_order_flow_celery import (
    FULFILMENT,
    TIMEOUT,
    flow_state,
    open_shop,
    place,
    provider_charges_of,
    settled,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

# Ports of spare Redis servers that tests and the fault suite start and kill.
SPARE_REDIS_PORTS = range(6382, 6390)
# Each outage met a Celery 5.7.0 worker with unacked messages about one time in two
# (which of its Redis connections saw the loss first decided it): three in a row.
OUTAGES = 3
_RECEIVED = re.compile(r"Task events\.drain\[([0-9a-f-]+)\] received")
_FINISHED = re.compile(r"Task events\.drain\[([0-9a-f-]+)\] (?:succeeded|raised|retry)")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, to kill and restart."""
    server = RedisServer(port=spare_port(SPARE_REDIS_PORTS), log=tmp_path / "redis.log")
    try:
        server.start()
    except ServerFailed as error:
        unavailable(str(error))
    yield server
    server.stop()


@pytest.fixture
def broker(transactional_db: None, redis_server: RedisServer) -> Iterator[str]:
    """The broker of ``start_workers`` and of this process's Celery dispatcher: the
    test's own Redis server (replaces the suite's claimed DB of the shared one)."""
    url = redis_server.url()
    with celery_broker(url):
        set_dispatcher(CeleryDispatcher())
        try:
            yield url
        finally:
            set_dispatcher(None)


def drains_running(worker: Worker, *, since: int = 0) -> int:
    """Drain tasks the worker has received (after ``since`` characters of its output)
    and not finished: with ``acks_late`` each is a message delivered to its channel
    and not acknowledged."""
    output = worker.output[since:]
    return len(set(_RECEIVED.findall(output)) - set(_FINISHED.findall(output)))


def wait_for_lines(worker: Worker, text: str, count: int) -> None:
    """Until the worker has logged ``text`` ``count`` times; a worker that exits
    meanwhile fails the wait at once, with its output."""

    def logged() -> bool:
        if worker.process is not None and worker.process.poll() is not None:
            pytest.fail(f"worker {worker.name} exited:\n{worker.output[-6000:]}")
        return worker.output.count(text) >= count

    wait_until(
        logged,
        f"worker {worker.name} to log {text!r} {count} times",
        timeout=TIMEOUT,
        explain=flow_state,
    )


def test_orders_placed_before_during_and_after_broker_outages_all_finish(
    start_workers, redis_server: RedisServer, settings
):
    # given the shop's workers (with the beat) woken through the broker, so that each
    # charge is a drain task the payments worker holds unacknowledged for its call
    # (woken by PostgreSQL instead, the worker's own threads drain, and a drain task
    # is only the beat's safety net, rarely running), and a provider that takes 2 s
    settings.EVENTS_WAKE = "broker"
    workers = start_workers(latency_ms=2000, beat=True)
    customer_id = open_shop(("MUG", "1.00", 1000))
    orders = [place(customer_id, ("MUG", n)) for n in range(1, 5)]
    for outage in range(1, OUTAGES + 1):
        # when Redis is SIGKILLed while payments drains run (their messages
        # unacknowledged), orders are placed while it is down, and both workers have
        # lost the connection and failed to connect again
        since = len(workers.payments.output)
        orders += [place(customer_id, ("MUG", 1)) for _ in range(4)]
        wait_until(
            lambda: drains_running(workers.payments, since=since) > 0,  # noqa: B023
            "payments drains running",
            timeout=TIMEOUT,
            explain=flow_state,
        )
        redis_server.kill()
        orders += [place(customer_id, ("MUG", 2)) for _ in range(2)]
        for worker in (workers.payments, workers.default):
            wait_for_lines(worker, "Connection to broker lost", outage)
            wait_for_lines(worker, "Cannot connect to redis://", outage)
        # and Redis comes back empty on the same port, both workers connect again,
        # and more orders are placed
        redis_server.start()
        for worker in (workers.payments, workers.default):
            wait_for_lines(worker, "Connected to redis://", outage + 1)
        orders += [place(customer_id, ("MUG", 3)) for _ in range(2)]
    # then every order finishes, confirmed: none is rejected because of the outages
    wait_until(
        lambda: settled(orders), "the orders to settle", timeout=180, explain=flow_state
    )
    statuses = Counter(
        OrderSummaryView.objects.filter(order_id__in=orders).values_list(
            "status", flat=True
        )
    )
    assert statuses == {"confirmed": len(orders)}
    assert Counter(
        SagaInstance.objects.filter(saga=FULFILMENT).values_list("status", flat=True)
    ) == {"completed": len(orders)}
    # and both workers are the ones started before the outages, connected again
    for worker in (workers.payments, workers.default):
        assert worker.process is not None and worker.process.poll() is None, (
            f"worker {worker.name} exited:\n{worker.output[-4000:]}"
        )
        assert "Unrecoverable error" not in worker.output
        assert worker.output.count("Connected to redis://") == OUTAGES + 1
    # and each order was charged exactly once
    doubled = {o: len(c) for o in orders if len(c := provider_charges_of(o)) != 1}
    assert not doubled, f"orders not charged exactly once: {doubled}"
    assert not DeadLetter.objects.exists()
