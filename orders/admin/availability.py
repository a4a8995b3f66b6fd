"""What orders believe is in stock (read-only: the view is fed by events)."""

from django.contrib import admin

from ..models import AvailabilityView


@admin.register(AvailabilityView)
class AvailabilityViewAdmin(admin.ModelAdmin):
    """Read-only: the view is rebuilt from events, never edited."""

    list_display = ("sku", "name", "price", "currency", "available", "updated_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
