"""`make run`: SQLite and the in-process dispatcher, with development defaults."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env, sqlite_database

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="development-only-not-a-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"] = sqlite_database(DATABASES["default"]["NAME"])
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
