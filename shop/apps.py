from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The project itself, installed only to carry project-wide commands (seed_demo)."""

    name = "shop"
