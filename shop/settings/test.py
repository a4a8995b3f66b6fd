"""pytest: SQLite unless DATABASE_URL names PostgreSQL (the CI run sets it).

Each pytest process gets its own test database (the pid in its name), so two runs on
one machine never drop each other's database."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, env, sqlite_database

DEBUG = False
INSTALLED_APPS = [*INSTALLED_APPS, "tests.effects"]  # noqa: F405
SECRET_KEY = "test-only-not-a-secret"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///unused")}
(BASE_DIR / "var").mkdir(exist_ok=True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so dispatcher threads share the test database.
    _path = BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3"
    DATABASES["default"] = sqlite_database(_path)
    DATABASES["default"]["TEST"] = {"NAME": str(_path)}
else:
    _name = DATABASES["default"]["NAME"]
    DATABASES["default"]["TEST"] = {"NAME": f"test_{_name}_{os.getpid()}"}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests drive dispatch explicitly (drain calls or a dispatcher fixture).
EVENTS_DISPATCHER = env.str("EVENTS_DISPATCHER", default="inprocess")
EVENTS_SWEEP_SECONDS = env.float("EVENTS_SWEEP_SECONDS", default=0.5)
PAYMENT_PROVIDER_LATENCY_MS = 0
