"""Settings shared by every way of running the shop, read from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

from shop.logs import configure_structlog, logging_config

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
    # HTTP metrics (django-prometheus): the first and (but for axes) the last, so a
    # request's time and status include every middleware's answer
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # outermost but for the security headers: every response gets the policy, the
    # answers of the middleware below (API guards, WhiteNoise's files) included
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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

# Password rules, one set for every way an account gets a password: the API's
# registration and ``manage.py customers add`` (customers.registration), and Django's
# own staff accounts (createsuperuser, the admin). The attributes a password must not
# resemble cover both kinds of account (a customer's email and name, a staff user's
# username and names).
_PASSWORDS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": f"{_PASSWORDS}.UserAttributeSimilarityValidator",
        "OPTIONS": {
            "user_attributes": ("username", "first_name", "last_name", "email", "name")
        },
    },
    {"NAME": f"{_PASSWORDS}.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": f"{_PASSWORDS}.CommonPasswordValidator"},
    {"NAME": f"{_PASSWORDS}.NumericPasswordValidator"},
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
# How a commit wakes the Celery workers. "notify": PostgreSQL NOTIFY, sent by the
# commit itself; each worker listens and drains on threads of its own, one small pool
# per subscription (events.dispatch.worker). "broker": a Redis flag and a drain task
# per (subscription, partition), for databases that cannot LISTEN (SQLite, or a
# pooler in transaction mode). Either way the sweep catches up whatever a lost bell
# left behind.
EVENTS_WAKE = env.str("EVENTS_WAKE", default="notify")
# Threads per subscription in a Celery worker's own dispatcher ("notify"): how many of
# a subscription's partitions one worker process drains at once.
EVENTS_WORKER_THREADS = env.int("EVENTS_WORKER_THREADS", default=2)
# Threads per subscription (each subscription has its own, so slowness stays local).
EVENTS_INPROCESS_THREADS = env.int("EVENTS_INPROCESS_THREADS", default=2)
# How often a sweep looks for work a lost wake-up left behind (and for due retries).
EVENTS_SWEEP_SECONDS = env.float("EVENTS_SWEEP_SECONDS", default=5.0)
# In-process dispatcher: how often it reads the partition heads to learn of commits
# made by other processes (a management command beside the embedded server).
EVENTS_INPROCESS_WATCH_SECONDS = env.float(
    "EVENTS_INPROCESS_WATCH_SECONDS", default=0.2
)
# Retention of integration messages; event-sourced stream rows are never pruned.
EVENTS_RETENTION_DEFAULT = timedelta(days=env.int("EVENTS_RETENTION_DAYS", default=7))
# topic -> timedelta, or None to keep a topic forever
EVENTS_RETENTION: dict[str, timedelta | None] = {}
EVENTS_PRUNE_BATCH = env.int("EVENTS_PRUNE_BATCH", default=1000)
# Outages (events.delivery.outages): a subscription pauses and probes when one failure
# (its class and message) holds this many different keys at once (retrying, or parked
# within the window), instead of spending every message's attempts.
EVENTS_OUTAGE_KEYS = env.int("EVENTS_OUTAGE_KEYS", default=3)
EVENTS_OUTAGE_WINDOW = timedelta(
    minutes=env.int("EVENTS_OUTAGE_WINDOW_MINUTES", default=10)
)
# The payment provider adapter (a dotted class path); the default is the test-mode
# fake (payments.provider): set a real adapter's path in production.
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="payments.provider.FakeProvider")
PAYMENT_PROVIDER_TIMEOUT_MS = env.int("PAYMENT_PROVIDER_TIMEOUT_MS", default=10_000)
PAYMENT_PROVIDER_LATENCY_MS = env.int("PAYMENT_PROVIDER_LATENCY_MS", default=200)
# Provider calls in flight per partition (events.window): at most EVENTS_PARTITIONS x
# this at once, so payments/s <= EVENTS_PARTITIONS x PAYMENTS_CONCURRENCY / latency.
PAYMENTS_CONCURRENCY = env.int("PAYMENTS_CONCURRENCY", default=8)
# Consumer health (/health/ready, /health/consumers; events.consumer_health): a
# subscription whose oldest message not yet handled is older than its threshold is
# stalled. Per subscription: EVENTS_STALL_SECONDS_BY_SUBSCRIPTION=payments=300,...
EVENTS_STALL_SECONDS = env.float("EVENTS_STALL_SECONDS", default=120.0)
EVENTS_STALL_SECONDS_BY_SUBSCRIPTION = env.dict(
    "EVENTS_STALL_SECONDS_BY_SUBSCRIPTION", cast={"value": float}, default={}
)
# How long /health/consumers waits for the Celery workers to answer its broadcast.
EVENTS_WORKER_PING_SECONDS = env.float("EVENTS_WORKER_PING_SECONDS", default=1.0)
# /metrics (Prometheus): when set, scrapers must send "Authorization: Bearer <token>".
EVENTS_METRICS_TOKEN = env.str("EVENTS_METRICS_TOKEN", default="")
# A Celery worker serves its own delivery counters on this port (0: not at all);
# events.dispatch.worker_metrics. With a prefork pool, PROMETHEUS_MULTIPROC_DIR must
# name a directory of the worker's own (docs/observability.md, "Metrics").
EVENTS_WORKER_METRICS_PORT = env.int("EVENTS_WORKER_METRICS_PORT", default=0)
# The committed schema registry and the documents generated from it (docs/events/,
# docs/asyncapi.yaml): what `manage.py events schemas check` compares the code with.
EVENTS_SCHEMAS_DIR = BASE_DIR / "docs"

# --- Celery (used when EVENTS_DISPATCHER == "celery") -------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that lost its broker reconnects for as long as the outage lasts (Celery's
# default gives up after 100 tries, about 45 minutes, and exits).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
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

# One console handler, on the root logger: every logger's lines go there once. Django
# first installs its DEFAULT_LOGGING, whose "django" logger has a console handler of
# its own (when DEBUG) and propagates to the root as well, so each django.* line (a
# 404, a 500) was printed twice in the development console. Naming "django" here
# replaces its handlers: only Django's mail to ADMINS on errors (when not DEBUG) is
# kept, and its lines reach the console through the root. (Configuring "django" also
# resets its children, so "django.server", runserver's request lines, loses its own
# handler too and prints through the root: once, in the same format.)
# The handler renders through structlog (shop/logs.py): LOG_FORMAT=console, readable
# lines (the default here, for make run), or json, one JSON object a line (production's
# default); either way a line carries the fields bound where it was written (the
# request's correlation id, the delivered message's ids, the trace's ids).
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
LOGGING = logging_config(
    log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO")
)
configure_structlog()

# --- API (the storefront REST API at /api/v1, shop/api) -----------------------------
# "ninja" for its bundled Swagger UI assets: /api/v1/docs loads nothing from a CDN.
INSTALLED_APPS.append("ninja")
# Right after the security headers and the CSP (production slots WhiteNoise in
# before these): every request gets a correlation id, carried into the events it
# causes, and every /api/ request is guarded (size, media type, NUL bytes) and answers
# its errors as application/problem+json.
_API_AT = MIDDLEWARE.index("csp.middleware.CSPMiddleware") + 1
MIDDLEWARE[_API_AT:_API_AT] = [
    "shop.api.middleware.CorrelationIdMiddleware",
    "shop.api.middleware.ApiGuardMiddleware",
]
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)  # else 413
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=20)  # else 400
API_TOKEN_TTL = timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=24))
API_MAX_WAIT_SECONDS = 10.0  # the bound of GET /orders/{id}?wait=
# Retry-After of the 503 answered while the database cannot be reached.
API_DATABASE_RETRY_AFTER_SECONDS = env.int(
    "API_DATABASE_RETRY_AFTER_SECONDS", default=5
)
# Fixed-window limits by operation id and scope (shop/api/ratelimit.py):
# "<requests>/<seconds>", or "off".
API_RATE_LIMITS = {
    "place_order": {
        "caller": env.str("API_RATE_LIMIT_PLACE_ORDER", default="30/60"),
    },
    # Password guessing: per client address (one client trying many accounts) and per
    # client address and account (one account guessed at), never per account alone,
    # so a stranger's failures cannot lock the owner out.
    "create_token": {
        "client": env.str("API_RATE_LIMIT_TOKENS_PER_CLIENT", default="20/300"),
        "client_account": env.str("API_RATE_LIMIT_TOKENS", default="5/300"),
    },
}
# Reverse proxies in front of the web process that each append the address they got
# the request from to X-Forwarded-For (shop/clients.py); 0: REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Idempotency-Key: a key expires this long after its first use (then it is pruned);
# a key left in flight longer than the lease by a request that died is taken over.
EVENTS_IDEMPOTENCY_TTL = timedelta(
    hours=env.int("EVENTS_IDEMPOTENCY_TTL_HOURS", default=24)
)
EVENTS_IDEMPOTENCY_LEASE = timedelta(
    seconds=env.int("EVENTS_IDEMPOTENCY_LEASE_SECONDS", default=60)
)
CELERY_BEAT_SCHEDULE["events-prune-idempotency-keys"] = {
    "task": "events.prune_idempotency_keys",
    "schedule": 3600.0,
}

# --- Staff logins: django-axes --------------------------------------------------------
# Failed admin logins are counted per client address (shop.clients, as the API's rate
# limits count), in the database (its AccessAttempt table: the same in the embedded
# run and in production, and staff see and delete the rows in the admin). After
# ADMIN_LOGIN_FAILURE_LIMIT failures that address is refused, the right password
# included, for ADMIN_LOGIN_COOLOFF_MINUTES (each failure meanwhile starts it again);
# other addresses, the owner's, are not. A successful login clears the count.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as axes requires
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out client
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "shop.clients.client_address"
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(
    minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15)
)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "shop.lockout.lockout_response"

# --- Content-Security-Policy: django-csp ---------------------------------------------
# One policy for every response: scripts, styles, images and fonts from this origin
# only, no inline script or style, no plugins, no framing, forms post only here. The
# admin and ninja's bundled Swagger UI (/api/v1/docs: its settings are a JSON block
# read by a script file, no inline code) work under it; tests/browser/ checks that in
# Chromium. img-src allows data: URIs for the icons the admin and Swagger UI's CSS
# embed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
INSTALLED_APPS.append("csp")  # its system checks of the policy
