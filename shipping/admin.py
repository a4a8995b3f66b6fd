"""Staff UI of shipments: read-only; dispatching sends DispatchShipment."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from events import DomainError

from .models import Shipment
from .staff import dispatch


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ("tracking_number", "order_id", "status", "city", "updated_at")
    list_filter = ("status",)
    search_fields = ("tracking_number", "order_id")
    actions = ("dispatch",)

    @admin.action(description="Dispatch selected shipments")
    def dispatch(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        try:
            sent = dispatch(order_ids=queryset.values_list("order_id", flat=True))
        except DomainError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"dispatch requested for {len(sent)} shipment(s)")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
