"""Orders' staff console: the orders list and the order investigator
(``orders``), and the availability view (``availability``), all read-only: staff act
through commands (cancel) and the platform's staff actions (redrive, retry, resolve).

Every message keyed by ``order_id`` (payments' and shipping's too) links to the
order's page from the platform's pages (dead letters, sagas, traces)."""

from django.urls import reverse

from events import console

from .availability import AvailabilityViewAdmin
from .investigation import Investigation
from .orders import OrderAdmin, Panel


def order_page(order_id: str) -> str:
    return reverse("admin:orders_ordersummaryview_change", args=[order_id])


console.register_key_link("order_id", label="order", url=order_page)

__all__ = [
    "AvailabilityViewAdmin",
    "Investigation",
    "OrderAdmin",
    "Panel",
    "order_page",
]
