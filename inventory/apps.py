from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # registers the command handlers and the subscription, once per process
        from . import commands, handlers  # noqa: F401
