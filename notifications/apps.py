"""Notifications: mails the customer about their order (confirmed, rejected, shipped,
cancelled). Other apps may import only notifications.contracts."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # registers the subscription and its handlers, once per process
        from . import handlers  # noqa: F401
