"""Settings of ``make bench-scale`` (``python -m bench.scale``): the bench's settings
(``bench.app`` and its I/O-bound subscription) on a database and a Redis DB of its own.

* ``SCALE_DATABASE_URL``: emptied before every measurement, so its name must contain
  "bench" (the runner refuses anything else). Unset, the runner starts a PostgreSQL
  cluster of its own and sets it (``bench.common.cluster``).
* ``SCALE_REDIS_URL`` (default ``redis://127.0.0.1:6379/10``): the broker, purged
  before the workers start; never DB 0.

Its own variables rather than ``DATABASE_URL``/``REDIS_URL``, as ``bench.blackfriday``:
a shell that exports those for the tests must not send this bench's TRUNCATE there.
"""

from bench.settings import *  # noqa: F403
from shop.settings.base import env

DATABASES = {
    "default": env.db(
        "SCALE_DATABASE_URL",
        default="postgres://postgres@127.0.0.1:5432/shop_bench_scale",
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env.str("SCALE_REDIS_URL", default="redis://127.0.0.1:6379/10")
CELERY_BROKER_URL = REDIS_URL
EVENTS_DISPATCHER = "celery"
