from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # registers the subscription and its event reactions, once per process
        from . import handlers  # noqa: F401
