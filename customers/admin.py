"""Staff UI of customers: saving announces the change (CustomerUpdated)."""

from django.contrib import admin
from django.http import HttpRequest

from .models import Customer
from .registration import update_customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "is_active", "created_at")
    search_fields = ("email", "name")
    readonly_fields = ("id", "password", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers register through the API or `manage.py customers add`

    def save_model(
        self, request: HttpRequest, obj: Customer, form: object, change: bool
    ) -> None:
        update_customer(obj)
