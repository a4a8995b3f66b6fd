"""Suite-wide fixtures: service requirements, subscriptions and a running dispatcher.

Tests marked ``postgres`` or ``redis`` skip when the service is not configured, except
when ``SHOP_REQUIRE_SERVICES=1`` (set by .ci/run): then they fail, so CI can never pass
by silently skipping the real-service tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connection

import pytest

REQUIRE_SERVICES = os.environ.get("SHOP_REQUIRE_SERVICES") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and SHOP_REQUIRE_SERVICES=1 says it must be there")
    pytest.skip(reason)


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(autouse=True)
def _required_services(request: pytest.FixtureRequest) -> None:
    if (
        request.node.get_closest_marker("postgres")
        and connection.vendor != "postgresql"
    ):
        _unavailable("needs PostgreSQL: run with DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("redis") and not redis_available():
        _unavailable(f"needs Redis at {settings.REDIS_URL}")


@pytest.fixture
def subscribe() -> Iterator[Callable[..., object]]:
    """Declare subscriptions for one test; they are removed afterwards."""
    from events.subscriptions import Subscription, registry

    declared: list[str] = []

    def declare(name: str, **options: object) -> Subscription:
        subscription = Subscription(name, **options)
        declared.append(name)
        return subscription

    yield declare
    for name in declared:
        registry.unregister(name)


@pytest.fixture
def dispatcher(transactional_db: None) -> Iterator[object]:
    """A started in-process dispatcher for this test, stopped (threads joined, their
    connections closed) afterwards."""
    from events.dispatch import set_dispatcher
    from events.dispatch.inprocess import InProcessDispatcher

    running = InProcessDispatcher(
        threads=settings.EVENTS_INPROCESS_THREADS,
        sweep_seconds=settings.EVENTS_SWEEP_SECONDS,
    )
    set_dispatcher(running)
    running.start()
    yield running
    running.stop()
    set_dispatcher(None)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache (tests run on the local-memory cache): rate
    limit counters of one test must not refuse another's requests."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def broker(transactional_db: None) -> Iterator[str]:
    """For tests with real Celery workers (``tests.workers``): a Redis database of
    this test's own as broker, used by this process's Celery app and the Celery
    dispatcher; flushed and given back afterwards."""
    from events.dispatch import set_dispatcher
    from events.dispatch.celery import CeleryDispatcher
    from tests.workers import broker_database, celery_broker

    with broker_database() as url, celery_broker(url):
        set_dispatcher(CeleryDispatcher())
        try:
            yield url
        finally:
            set_dispatcher(None)
