"""Settings of ``make bench-blackfriday`` (``python -m bench.blackfriday``): the shop as
production runs it (PostgreSQL, Redis, Celery workers), on a database and a Redis DB
of its own, so that it never clashes with ``make bench`` (``shop_bench``, Redis 15).

* ``BLACKFRIDAY_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/
  shop_bench_bf``): emptied at the start of each phase, so its name must contain
  "bench" (the runner refuses anything else).
* ``BLACKFRIDAY_REDIS_URL`` (default ``redis://127.0.0.1:6379/13``): the broker,
  flushed at the start of each phase; never DB 0.
* ``PAYMENT_PROVIDER`` (default the bench's counting adapter,
  ``bench.app.provider.CountingProvider``), ``PAYMENT_PROVIDER_LATENCY_MS`` (base
  settings), ``EMAIL_URL`` (the runner points it at a closed local port: the mail
  server is down), ``EVENTS_PARTITIONS`` (base settings): read from the environment,
  which the runner sets for its workers.

Its own variables rather than ``DATABASE_URL``/``REDIS_URL``: a shell that exports
those for ``make bench`` or the tests must not send this bench's TRUNCATE and FLUSHDB
there. ``bench.app`` is not installed: its subscriptions (the delivery benchmarks')
would only add drains to the sweeps; the adapter module needs no app.
"""

from shop.settings.base import *  # noqa: F403
from shop.settings.base import env

DEBUG = False
SECRET_KEY = "bench-only-not-a-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {
    "default": env.db(
        "BLACKFRIDAY_DATABASE_URL",
        default="postgres://postgres@127.0.0.1:5432/shop_bench_bf",
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env.str("BLACKFRIDAY_REDIS_URL", default="redis://127.0.0.1:6379/13")
CELERY_BROKER_URL = REDIS_URL
EVENTS_DISPATCHER = "celery"
PAYMENT_PROVIDER = env.str(
    "PAYMENT_PROVIDER", default="bench.app.provider.CountingProvider"
)
vars().update(env.email_url("EMAIL_URL", default="smtp://127.0.0.1:1"))
EMAIL_TIMEOUT = 5  # seconds: a mail server that hangs fails the attempt, never a drain
DEFAULT_FROM_EMAIL = "shop@bench.invalid"
# Seeding hashes one password per customer: the fast hasher (bench customers only).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Quiet, but a worker still says it is ready (bench/settings.py says why).
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {**LOGGING["loggers"], "celery": {"level": "INFO"}},  # noqa: F405
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
