"""Settings shared by every way of running the shop, read from the environment."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "shop",
    "events",
    "customers",
    "orders",
    "inventory",
    "payments",
    "shipping",
    "notifications",
    "loyalty",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"


def sqlite_database(path: Path) -> dict:
    """SQLite tuned for one server process with dispatcher threads.

    WAL lets readers run beside the single writer; IMMEDIATE transactions take the write
    lock at BEGIN so two writers queue on busy_timeout instead of failing with
    "database is locked" when a reader upgrades (https://www.sqlite.org/lang_transaction.html).
    """
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


# --- the event platform -------------------------------------------------------------
# Number of log partitions. A key always maps to the same partition, so changing this on
# a shop with data breaks per-key ordering for messages already in the log.
EVENTS_PARTITIONS = env.int("EVENTS_PARTITIONS", default=8)
# "inprocess" (threads in the serving process) or "celery" (workers woken on commit).
EVENTS_DISPATCHER = env.str("EVENTS_DISPATCHER", default="inprocess")
# Threads per subscription (each subscription has its own, so slowness stays local).
EVENTS_INPROCESS_THREADS = env.int("EVENTS_INPROCESS_THREADS", default=2)
# How often a sweep looks for work a lost wake-up left behind (and for due retries).
EVENTS_SWEEP_SECONDS = env.float("EVENTS_SWEEP_SECONDS", default=5.0)
# Retention of integration messages; event-sourced stream rows are never pruned.
EVENTS_RETENTION_DEFAULT = timedelta(days=env.int("EVENTS_RETENTION_DAYS", default=7))
EVENTS_RETENTION = {}  # topic -> timedelta, or None to keep a topic forever
EVENTS_PRUNE_BATCH = env.int("EVENTS_PRUNE_BATCH", default=1000)
# The payment provider adapter (a dotted class path); the default is the test-mode
# fake (payments.provider): set a real adapter's path in production.
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="payments.provider.FakeProvider")
PAYMENT_PROVIDER_TIMEOUT_MS = env.int("PAYMENT_PROVIDER_TIMEOUT_MS", default=10_000)
PAYMENT_PROVIDER_LATENCY_MS = env.int("PAYMENT_PROVIDER_LATENCY_MS", default=200)
# Provider calls in flight per partition (events.window): at most EVENTS_PARTITIONS x
# this at once, so payments/s <= EVENTS_PARTITIONS x PAYMENTS_CONCURRENCY / latency.
PAYMENTS_CONCURRENCY = env.int("PAYMENTS_CONCURRENCY", default=8)
# /metrics (Prometheus): when set, scrapers must send "Authorization: Bearer <token>".
EVENTS_METRICS_TOKEN = env.str("EVENTS_METRICS_TOKEN", default="")

# --- Celery (used when EVENTS_DISPATCHER == "celery") -------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacked task after the visibility timeout; it must exceed the
# longest countdown we schedule (the retry backoff cap) or delayed tasks run twice.
# max_retries=0: a publish to a broker that is down fails at once instead of retrying
# the connect for seconds inside a request's on-commit hook; the sweep delivers later.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "max_retries": 0,
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
}
CELERY_BEAT_SCHEDULE = {
    "events-sweep": {
        "task": "events.sweep",
        "schedule": EVENTS_SWEEP_SECONDS,
        "options": {"expires": EVENTS_SWEEP_SECONDS},
    },
    "events-expire-sagas": {
        "task": "events.expire_sagas",
        "schedule": EVENTS_SWEEP_SECONDS,
        "options": {"expires": EVENTS_SWEEP_SECONDS},
    },
    "events-prune": {"task": "events.prune", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- API (the storefront REST API at /api/v1, shop/api) -----------------------------
# "ninja" for its bundled Swagger UI assets: /api/v1/docs loads nothing from a CDN.
INSTALLED_APPS.append("ninja")
# Right after SecurityMiddleware (production slots WhiteNoise in at index 1 before
# these): every request gets a correlation id, carried into the events it causes, and
# every /api/ request is guarded (size, media type, NUL bytes) and answers its errors
# as application/problem+json.
MIDDLEWARE[1:1] = [
    "shop.api.middleware.CorrelationIdMiddleware",
    "shop.api.middleware.ApiGuardMiddleware",
]
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)  # else 413
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=20)  # else 400
API_TOKEN_TTL = timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=24))
API_MAX_WAIT_SECONDS = 10.0  # the bound of GET /orders/{id}?wait=
# Fixed-window limits per caller, by operation id: "<requests>/<seconds>", or "off".
API_RATE_LIMITS = {
    "place_order": env.str("API_RATE_LIMIT_PLACE_ORDER", default="30/60"),
    # per account asked for: password guessing (each try also costs a password hash)
    "create_token": env.str("API_RATE_LIMIT_TOKENS", default="10/300"),
}
# Idempotency-Key: a key expires this long after its first use (then it is pruned);
# a key left in flight longer than the lease by a request that died is taken over.
EVENTS_IDEMPOTENCY_TTL = timedelta(
    hours=env.int("EVENTS_IDEMPOTENCY_TTL_HOURS", default=24)
)
EVENTS_IDEMPOTENCY_LEASE = timedelta(
    seconds=env.int("EVENTS_IDEMPOTENCY_LEASE_SECONDS", default=60)
)
CELERY_IMPORTS = ["events.idempotency"]  # its prune task, scheduled below
CELERY_BEAT_SCHEDULE["events-prune-idempotency-keys"] = {
    "task": "events.prune_idempotency_keys",
    "schedule": 3600.0,
}
