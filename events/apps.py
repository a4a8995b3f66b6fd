from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import alerts  # noqa: F401  (registers the alerts subscription)
