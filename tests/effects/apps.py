"""A test-only app with one table that handlers under test write their effects to,
and the subscriptions a real Celery worker runs in tests (``subscriptions``)."""

from django.apps import AppConfig


class EffectsConfig(AppConfig):
    name = "tests.effects"
    label = "effects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import subscriptions  # noqa: F401  (registers them, once per process)
