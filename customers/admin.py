"""Staff UI of customers: saving announces the change (CustomerUpdated); API tokens
are read-only and can only be revoked (deactivating a customer shuts them all)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from events import bus

from .contracts import UpdateCustomer
from .models import ApiToken, Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "is_active", "created_at")
    search_fields = ("email", "name")
    readonly_fields = ("id", "created_at")
    exclude = ("password",)  # a hash is nobody's business, staff's included

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers register through the API or `manage.py customers add`

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a delete would announce nothing: deactivate (UpdateCustomer)

    def save_model(
        self, request: HttpRequest, obj: Customer, form: object, change: bool
    ) -> None:
        bus.execute(
            UpdateCustomer(
                customer_id=obj.id,
                email=obj.email,
                name=obj.name,
                is_active=obj.is_active,
            )
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued through the API only (staff never see one: only a digest
    and the first characters are stored); staff revoke them."""

    list_display = ("prefix", "customer", "created_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("=customer__email", "prefix")
    readonly_fields = ("id", "customer", "prefix", "created_at", "expires_at")
    exclude = ("digest",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        self.message_user(request, f"{count} token(s) revoked", messages.SUCCESS)
