"""Staff pages composed across apps: the project may import every app, no app may.

* The order's page (orders' investigator) gains what only other apps hold, read from
  their queries: payments' record of the charge and refund, shipping's record of the
  shipment, and shipping's staff dispatch (``shipping.staff.dispatch``), on the page
  and as an action of the orders list.
* The customer's page (customers' admin) gains the customer's orders (orders' read
  model), API tokens and loyalty points, each linked.
* The admin's home page starts with "Find an order" (the orders list's search), so
  an order is found from a customer's email in one page load.

Each app keeps its own admin; this module re-registers the two models with the
composed classes. Admin modules are imported in INSTALLED_APPS order and ``shop``
comes first: importing the apps' admin modules here registers their classes first.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from customers import queries as customers
from customers.admin import CustomerAdmin
from customers.models import Customer
from events import DomainError
from loyalty import queries as loyalty
from orders import queries as orders
from orders.admin import Investigation, OrderAdmin, Panel
from orders.models import OrderSummaryView
from payments import queries as payments
from shipping import queries as shipping
from shipping.staff import dispatch


class ShopOrderAdmin(OrderAdmin):
    """Orders' investigator with payments' and shipping's records, and dispatch."""

    actions = (*OrderAdmin.actions, "dispatch_selected")

    def panels(self, request: HttpRequest, found: Investigation) -> list[Panel]:
        order_id = found.order_id
        shipment = shipping.shipment_of(order_id)
        # offered only while it can be done, like the cancel form
        dispatch = Panel(
            "Dispatch",
            "admin/shop/order/_dispatch.html",
            {"order_id": order_id},
            section="actions",
        )
        return [
            *super().panels(request, found),
            *([dispatch] if shipping.awaits_dispatch(shipment) else []),
            Panel(
                "Payments' record",
                "admin/shop/order/_payment.html",
                {"payment": payments.payment_of(order_id)},
                section="payment",
            ),
            Panel(
                "Shipping's record",
                "admin/shop/order/_shipment.html",
                {"shipment": shipment},
                section="shipment",
            ),
        ]

    def customer_url(self, found: Investigation) -> str:
        return reverse(
            "admin:customers_customer_change", args=[found.state["customer_id"]]
        )

    def get_urls(self) -> list:
        send = self.admin_site.admin_view(require_POST(self.dispatch_view))
        return [
            path("<uuid:order_id>/dispatch/", send, name="orders_order_dispatch"),
            *super().get_urls(),
        ]

    def dispatch_view(self, request: HttpRequest, order_id: UUID) -> HttpResponse:
        self._check_act(request)
        self._dispatch(request, [order_id])
        return self._back(order_id)

    @admin.action(description="Dispatch selected orders", permissions=["act"])
    def dispatch_selected(
        self, request: HttpRequest, queryset: QuerySet[OrderSummaryView]
    ) -> None:
        self._dispatch(request, list(queryset.values_list("order_id", flat=True)))

    def _dispatch(self, request: HttpRequest, order_ids: list[UUID]) -> None:
        try:
            sent = dispatch(order_ids=order_ids)
        except DomainError as error:
            self.message_user(request, f"Dispatch refused: {error}.", messages.ERROR)
            return
        numbers = ", ".join(s.tracking_number for s in sent)
        self.message_user(
            request,
            f"Dispatch requested for {len(sent)} shipment(s): {numbers}.",
            messages.SUCCESS,
        )


class ShopCustomerAdmin(CustomerAdmin):
    """Customers' page with the customer's orders, API tokens and loyalty points."""

    change_form_template = "admin/shop/customer/change_form.html"
    shown_orders = 20

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        customer = Customer.objects.filter(pk=object_id).first()
        if customer is not None:
            context.update(self.composed(customer))
        return super().change_view(request, object_id, form_url, context)

    def composed(self, customer: Customer) -> dict[str, Any]:
        found = orders.customer_orders(customer.id, limit=self.shown_orders + 1)
        return {
            "customer_orders": found[: self.shown_orders],
            "more_orders": len(found) > self.shown_orders,
            "orders_url": (
                f"{reverse('admin:orders_ordersummaryview_changelist')}"
                f"?q={customer.email}"
            ),
            "tokens": customers.tokens_of(customer.id),
            "points": loyalty.balance(customer.id),
            "point_entries": loyalty.entries(customer.id),
        }


admin.site.index_template = "admin/shop/index.html"
admin.site.unregister(OrderSummaryView)
admin.site.register(OrderSummaryView, ShopOrderAdmin)
admin.site.unregister(Customer)
admin.site.register(Customer, ShopCustomerAdmin)
