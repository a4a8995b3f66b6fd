"""Settings of the benchmark: PostgreSQL and a Redis DB of its own, plus ``bench.app``.

Defaults point at a database and a Redis DB used by nothing else: the runner truncates
the first and purges the second (DATABASE_URL and REDIS_URL override them; the runner
refuses a database whose name does not contain "bench"). Connections are kept as in
production (CONN_MAX_AGE), so workers do not reconnect for every task.
"""

from shop.settings.base import *  # noqa: F403
from shop.settings.base import env

DEBUG = False
SECRET_KEY = "bench-only-not-a-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [*INSTALLED_APPS, "bench.app"]  # noqa: F405
DATABASES = {
    "default": env.db(
        "DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/shop_bench"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_URL = REDIS_URL
EVENTS_DISPATCHER = env.str("EVENTS_DISPATCHER", default="celery")
# The I/O-bound subscription's outside call (bench.app.handlers.on_call_made).
BENCH_SCALE_CALL_MS = env.float("BENCH_SCALE_CALL_MS", default=5.0)
# Quiet, but a worker still says it is ready: Celery logs through Django's logging
# (shop/celery.py), and the bench's worker helper waits for its "ready." line.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {**LOGGING["loggers"], "celery": {"level": "INFO"}},  # noqa: F405
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
