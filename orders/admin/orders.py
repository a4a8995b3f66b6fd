"""The orders list and the order investigator.

The list is orders' read model, newest first, searchable by order id, customer email,
tracking number and payment reference (``queries.search``). An order's page is the
investigator (``investigation``): one page load answers what happened to it. Nothing
is edited: the page's buttons execute commands (``CancelOrder``) and the platform's
staff actions (redrive the order's dead letters, retry or resolve its saga with a
note), each refused with the reason when the order's state forbids it.

``OrderAdmin`` is meant to be extended by the project (``shop/admin.py``) with what
orders may not know or do itself: other apps' records of the order (``panels``),
their actions, and where the customer's page is (``customer_url``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from events import DomainError, bus, console

from .. import queries
from ..contracts import CancelOrder
from ..domain import Order, OrderNotFoundError
from ..models import OrderSummaryView
from .investigation import Investigation, investigate


@dataclass(frozen=True)
class Panel:
    """A section another part of the project adds to the order's page: a title, a
    template and its context."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    section: str = "after"  # "actions", "payment", "shipment" or "after" the facts


@admin.register(OrderSummaryView)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "order",
        "customer_email",
        "status",
        "payment",
        "shipment",
        "order_total",
        "placed",
    )
    list_display_links = ("order",)
    list_filter = ("status", "payment_status", "shipment_status")
    search_fields = ("order_id",)  # the box; queries.search decides what it finds
    search_help_text = (
        "An order id (or its first 8 characters, as listed), a customer's email (or "
        "part of one), a tracking number or a payment reference."
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-order_id")
    list_per_page = 50
    show_full_result_count = False
    actions: tuple[str, ...] = ("cancel_selected",)
    investigator_template = "admin/orders/order/investigate.html"

    # --- the list ------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderSummaryView]:
        return queries.staff_orders()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return queries.search(queryset, search_term), False

    @admin.display(description="order", ordering="order_id")
    def order(self, summary: OrderSummaryView) -> str:
        """The id's first characters (the whole id on hover), linked to its page."""
        return format_html(
            '<span title="{}">{}…</span>', summary.order_id, str(summary.order_id)[:8]
        )

    @admin.display(description="customer", ordering="customer_email")
    def customer_email(self, summary: OrderSummaryView) -> str:
        return getattr(summary, "customer_email", None) or str(summary.customer_id)

    @admin.display(description="payment", ordering="payment_status")
    def payment(self, summary: OrderSummaryView) -> str:
        return summary.payment_status

    @admin.display(description="shipment", ordering="shipment_status")
    def shipment(self, summary: OrderSummaryView) -> str:
        if summary.tracking_number and summary.shipment_status != "none":
            return f"{summary.shipment_status} {summary.tracking_number}"
        return summary.shipment_status

    @admin.display(description="placed", ordering="created_at")
    def placed(self, summary: OrderSummaryView) -> str:
        return timezone.localtime(summary.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="total", ordering="total")
    def order_total(self, summary: OrderSummaryView) -> str:
        return f"{summary.total} {summary.currency}"

    @admin.action(description="Cancel selected orders", permissions=["act"])
    def cancel_selected(
        self, request: HttpRequest, queryset: QuerySet[OrderSummaryView]
    ) -> None:
        who = request.user.get_username()
        done = 0
        for order_id in queryset.values_list("order_id", flat=True):
            if self._cancel(request, order_id, f"cancelled by staff ({who})"):
                done += 1
        self.message_user(request, f"Cancelled {done} order(s).")

    # --- permissions: nothing is edited, acting is a permission of its own ---------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Cancel, redrive, retry and resolve: staff allowed to change orders."""
        return request.user.has_perm("orders.change_ordersummaryview")

    # --- the investigator ----------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        order_id = _order_id(object_id)
        try:
            found = investigate(order_id, as_of_text=request.GET.get("as_of", ""))
        except OrderNotFoundError:
            raise Http404(f"no order {order_id}") from None
        panels = self.panels(request, found)
        return TemplateResponse(
            request,
            self.investigator_template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Order {order_id}",
                "found": found,
                "customer_url": self.customer_url(found),
                "can_act": self.has_act_permission(request),
                "panels": {
                    section: [p for p in panels if p.section == section]
                    for section in ("actions", "payment", "shipment", "after")
                },
                **(extra_context or {}),
            },
        )

    def panels(self, request: HttpRequest, found: Investigation) -> list[Panel]:
        """Sections others add to the page (the project composes them)."""
        return []

    def customer_url(self, found: Investigation) -> str:
        """Where the customer's name leads: here, the customer's orders."""
        email = found.customer_email or found.state["customer_id"]
        return f"{reverse('admin:orders_ordersummaryview_changelist')}?q={email}"

    # --- the page's actions --------------------------------------------------------

    def get_urls(self) -> list:
        def act(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(require_POST(view))

        return [
            path(
                "<uuid:order_id>/cancel/",
                act(self.cancel_view),
                name="orders_order_cancel",
            ),
            path(
                "<uuid:order_id>/redrive/",
                act(self.redrive_view),
                name="orders_order_redrive",
            ),
            path(
                "<uuid:order_id>/saga/<int:instance_id>/retry/",
                act(self.saga_retry_view),
                name="orders_order_saga_retry",
            ),
            path(
                "<uuid:order_id>/saga/<int:instance_id>/resolve/",
                act(self.saga_resolve_view),
                name="orders_order_saga_resolve",
            ),
            *super().get_urls(),
        ]

    def cancel_view(self, request: HttpRequest, order_id: UUID) -> HttpResponse:
        self._check_act(request)
        reason = request.POST.get("reason", "").strip()
        who = request.user.get_username()
        why = f"{reason} (staff: {who})" if reason else f"cancelled by staff ({who})"
        if self._cancel(request, order_id, why):
            self.message_user(
                request,
                "Cancel accepted: the saga now undoes what was done (stock, payment, "
                "shipment); reload to follow it.",
                messages.SUCCESS,
            )
        return self._back(order_id)

    def redrive_view(self, request: HttpRequest, order_id: UUID) -> HttpResponse:
        """Redrive the letters asked for, if they belong to this order."""
        self._check_act(request)
        found = investigate(order_id)
        own = {letter.id for letter in found.dead_letters}
        wanted = [int(i) for i in request.POST.getlist("letter") if i.isdigit()]
        if not wanted or not set(wanted) <= own:
            self.message_user(
                request,
                "Refused: those are not parked dead letters of this order.",
                messages.ERROR,
            )
            return self._back(order_id)
        ended: Literal["include", "refuse"] = (
            "include" if request.POST.get("ended") == "include" else "refuse"
        )
        done = console.redrive(wanted, ended=ended)
        for letter_id, why in done.refused.items():
            self.message_user(
                request, f"Dead letter {letter_id} not sent: {why}.", messages.WARNING
            )
        for letter_id, error in done.failed.items():
            self.message_user(
                request,
                f"Dead letter {letter_id} failed again: {error}",
                messages.ERROR,
            )
        level = messages.SUCCESS if done.handled and not done.failed else messages.INFO
        self.message_user(request, done.summary().capitalize() + ".", level)
        return self._back(order_id)

    def saga_retry_view(
        self, request: HttpRequest, order_id: UUID, instance_id: int
    ) -> HttpResponse:
        self._check_act(request)
        self._saga(request, order_id, instance_id, console.retry_saga, "retried")
        return self._back(order_id)

    def saga_resolve_view(
        self, request: HttpRequest, order_id: UUID, instance_id: int
    ) -> HttpResponse:
        self._check_act(request)
        note = request.POST.get("note", "").strip()
        if not note:
            self.message_user(
                request, "Refused: say what was done (the note).", messages.ERROR
            )
            return self._back(order_id)
        signed = f"{note} (by {request.user.get_username()})"
        self._saga(
            request,
            order_id,
            instance_id,
            lambda i: console.resolve_saga(i, note=signed),
            "resolved",
        )
        return self._back(order_id)

    # --- helpers -------------------------------------------------------------------

    def _cancel(self, request: HttpRequest, order_id: UUID, reason: str) -> bool:
        """Cancel the order; False (and the reason told) when it was refused or there
        was nothing to cancel (a rejected or cancelled order records nothing)."""
        command = CancelOrder(order_id=order_id, reason=reason)
        try:
            result, published = bus.execute(command)
        except DomainError as error:
            self.message_user(request, f"Cancel refused: {error}.", messages.ERROR)
            return False
        if not published:
            status = bus.checked(command, result, Order).status.value
            self.message_user(
                request,
                f"Nothing to cancel: order {order_id} is already {status}.",
                messages.WARNING,
            )
            return False
        return True

    def _saga(self, request, order_id: UUID, instance_id: int, action, verb) -> None:
        views = console.saga_views(str(order_id))
        if instance_id not in {view.id for view in views}:
            self.message_user(
                request, "Refused: that saga is not this order's.", messages.ERROR
            )
            return
        try:
            instance = action(instance_id)
        except console.SagaActionError as error:
            self.message_user(request, f"Refused: {error}.", messages.ERROR)
            return
        self.message_user(request, f"Saga {verb}: now {instance.status}.")

    def _check_act(self, request: HttpRequest) -> None:
        if not self.has_act_permission(request):
            raise PermissionDenied

    def _back(self, order_id: UUID) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:orders_ordersummaryview_change", args=[order_id])
        )


def _order_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise Http404(f"not an order id: {text!r}") from None
