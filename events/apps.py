from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the floors that must not import each other: the log announces what
        a transaction wrote, the dispatchers wake its readers (the log never imports
        the dispatchers). And register the platform's own subscription (alerts)."""
        from django.db.models.signals import post_migrate

        from .dispatch.current import wake_readers
        from .log.layout import ensure_layout
        from .log.signals import messages_committed
        from .sagas import alerts  # noqa: F401  (registers the alerts subscription)

        messages_committed.connect(wake_readers, dispatch_uid="events.wake_readers")
        # The partition count's row (a flush, as tests do, empties it like any table).
        post_migrate.connect(ensure_layout, sender=self, dispatch_uid="events.layout")
