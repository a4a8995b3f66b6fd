from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # registers the subscription and its command handlers, once per process
        from . import handlers  # noqa: F401
