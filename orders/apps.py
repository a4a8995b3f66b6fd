from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # registers the command handlers, the subscriptions and the journey, once per
        # process
        from . import (  # noqa: F401
            commands,
            handlers,
            journeys,
            projections,
            saga,
        )
