"""Suite-wide fixtures: service requirements, subscriptions and a running dispatcher.

Tests marked ``postgres``, ``redis``, ``browser`` (Chromium) or ``promtool`` skip when
the service or tool is not there, except when ``SHOP_REQUIRE_SERVICES=1`` (set by
.ci/run): then they fail, so CI can never pass by silently skipping the real-service
tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection

import pytest

from tests.support.services import unavailable

# Browser fixtures (chromium, browser_page, staff_page) for any test of the suite.
pytest_plugins = ["tests.browser.support"]


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before any test module is imported (some declare subscriptions of their own,
    which no worker subprocess knows): the subscriptions the installed apps declare,
    which is what a worker started by ``tests.support.workers`` runs."""
    from events.delivery.subscriptions import registry
    from tests.support import workers

    workers.APP_SUBSCRIPTIONS = frozenset(s.name for s in registry.all())


@pytest.fixture(autouse=True)
def _required_services(request: pytest.FixtureRequest) -> None:
    if (
        request.node.get_closest_marker("postgres")
        and connection.vendor != "postgresql"
    ):
        unavailable("needs PostgreSQL: run with DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("redis") and not redis_available():
        unavailable(f"needs Redis at {settings.REDIS_URL}")
    if request.node.get_closest_marker("browser"):
        from tests.browser.support import require_chromium

        require_chromium()
    if request.node.get_closest_marker("promtool") and not shutil.which("promtool"):
        unavailable("needs promtool: apt-get install prometheus")


@pytest.fixture
def subscribe() -> Iterator[Callable[..., object]]:
    """Declare subscriptions for one test; they are removed afterwards."""
    from events.delivery.subscriptions import Subscription, registry

    declared: list[str] = []

    def declare(name: str, **options: Any) -> Subscription:
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
    from events.dispatch.current import set_dispatcher
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
    """For tests with real Celery workers (``tests.support.workers``): a Redis
    database of this test's own as broker, used by this process's Celery app and the
    Celery dispatcher; flushed and given back afterwards."""
    from events.dispatch.celery import CeleryDispatcher
    from events.dispatch.current import set_dispatcher
    from tests.support.workers import broker_database, celery_broker

    with broker_database() as url, celery_broker(url):
        set_dispatcher(CeleryDispatcher())
        try:
            yield url
        finally:
            set_dispatcher(None)
