from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # registers the command handlers and the subscriptions, once per process
        from . import handlers, projections, reactions, saga  # noqa: F401
