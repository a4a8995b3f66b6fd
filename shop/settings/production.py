"""Production: PostgreSQL, Redis and Celery workers. No secret has a default here.

A missing SECRET_KEY, DATABASE_URL, REDIS_URL, ALLOWED_HOSTS or EVENTS_METRICS_TOKEN
raises ImproperlyConfigured at start-up instead of silently running with development
values (or with /metrics open to anyone).
"""

from django.core.exceptions import ImproperlyConfigured

from shop.logs import logging_config

from .base import *  # noqa: F403
from .base import MIDDLEWARE, env

DEBUG = False
# One JSON object a line, for a log shipper (shop/logs.py); LOG_FORMAT=console to read.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = logging_config(
    log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO")
)
SECRET_KEY = env.str("SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 random characters (Django's security.W009)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Server-side TCP keepalives: if a worker's machine vanishes, PostgreSQL drops its
# session (and the drain's advisory lock) after about a minute, not the kernel's 2 h.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
)
REDIS_URL = env.str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
EVENTS_DISPATCHER = env.str("EVENTS_DISPATCHER", default="celery")
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@localhost")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# HSTS: two years with preload, as the browsers' preload list requires (a max-age of
# at least a year, includeSubDomains, preload). Preload is hard to undo: an operator
# not ready for it sets SECURE_HSTS_PRELOAD=false (then check --deploy's reminder,
# security.W021, is silenced as a decision taken).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=63_072_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
HSTS_PRELOAD_MIN_SECONDS = 31_536_000
if SECURE_HSTS_PRELOAD and SECURE_HSTS_SECONDS < HSTS_PRELOAD_MIN_SECONDS:
    raise ImproperlyConfigured(
        f"SECURE_HSTS_SECONDS={SECURE_HSTS_SECONDS} is too short for HSTS preload: "
        f"the preload list accepts a max-age of at least {HSTS_PRELOAD_MIN_SECONDS} "
        "(one year). Raise it, or set SECURE_HSTS_PRELOAD=false."
    )
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# gunicorn serves the admin's static files through WhiteNoise (collected at start),
# behind the security headers and the CSP, before everything else.
_STATIC_AT = MIDDLEWARE.index("csp.middleware.CSPMiddleware") + 1
MIDDLEWARE = [
    *MIDDLEWARE[:_STATIC_AT],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_STATIC_AT:],
]
# /metrics shows order volume, lag and saga outcomes: never open in production.
EVENTS_METRICS_TOKEN = env.str("EVENTS_METRICS_TOKEN", default="")
if len(EVENTS_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "EVENTS_METRICS_TOKEN must be set to at least 32 random characters: /metrics "
        "answers only scrapers sending 'Authorization: Bearer <token>' (e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))')."
    )
STORAGES = {
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}

# --- API ------------------------------------------------------------------------------
# The rate-limit counters live in the shared Redis, so every gunicorn worker and
# machine counts together (CACHE_URL may name another Redis database). Short socket
# timeouts: a Redis outage fails the limiter open quickly instead of hanging requests.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "shop",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
# Load balancers probe the health checks over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
