"""Settings of the Celery workers that the order-flow tests start: the test settings,
plus two knobs read from the worker's environment, as production reads them.

* ``PAYMENT_PROVIDER_LATENCY_MS``: the fake provider's latency (0 by default, as in the
  test settings), so a test can keep charges in flight while it kills a worker;
* ``EMAIL_URL``: the mail server, e.g. ``smtp://127.0.0.1:1`` for one that refuses
  connections (default ``memorymail://``: Django's locmem backend, as in the tests).

A module of its own rather than ``shop.settings.test`` reading the environment: the
test process keeps fixed settings whatever a developer's shell exports, and the tests
that start these workers set both variables explicitly."""

from shop.settings.base import env
from shop.settings.test import *  # noqa: F403

PAYMENT_PROVIDER_LATENCY_MS = env.int("PAYMENT_PROVIDER_LATENCY_MS", default=0)
vars().update(env.email_url("EMAIL_URL", default="memorymail://"))
