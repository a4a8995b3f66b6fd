"""Staff UI of the catalogue: saving executes PutProduct, so StockChanged is published
with the change."""

from django.contrib import admin
from django.http import HttpRequest

from events import bus

from .contracts import PutProduct
from .models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "currency", "on_hand", "reserved")
    search_fields = ("sku", "name")

    def save_model(
        self, request: HttpRequest, obj: Product, form: object, change: bool
    ) -> None:
        bus.execute(
            PutProduct(
                sku=obj.sku,
                name=obj.name,
                price=obj.price,
                stock=obj.on_hand,
                currency=obj.currency,
            )
        )

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
