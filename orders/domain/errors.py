"""The Order's errors: each a rule broken, with what the caller needs to say why.

A DomainError means nothing was recorded; the API maps them to problem+json in one
place. Their attributes (ids, SKUs, shortages) are there for that mapping."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from events import DomainError as DomainError  # re-exported by orders.domain


class OrderNotFoundError(DomainError):
    def __init__(self, order_id: UUID, detail: str = "") -> None:
        super().__init__(f"order {order_id} does not exist{detail}")
        self.order_id = order_id


class OrderAlreadyExistsError(DomainError):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"order {order_id} already exists: it cannot be placed again")
        self.order_id = order_id


class InvalidTransitionError(DomainError):
    """The order's status does not allow the action."""

    def __init__(self, order_id: UUID, status: str, action: str, why: str) -> None:
        super().__init__(f"cannot {action} order {order_id}: {why}")
        self.order_id, self.status, self.action = order_id, status, action


class OrderClosedError(InvalidTransitionError):
    """The order is rejected or cancelled: nothing more can happen to it."""

    def __init__(self, order_id: UUID, status: str, action: str) -> None:
        super().__init__(order_id, status, action, f"it is {status}")


class QuantityError(DomainError):
    def __init__(self, sku: str, quantity: int, why: str) -> None:
        super().__init__(f"quantity {quantity} of {sku}: {why}")
        self.sku, self.quantity = sku, quantity


class EmptyOrderError(DomainError):
    pass


class TooManyLinesError(DomainError):
    pass


class ItemNotInOrderError(DomainError):
    def __init__(self, order_id: UUID, sku: str) -> None:
        super().__init__(f"order {order_id} has no {sku}")
        self.order_id, self.sku = order_id, sku


class CurrencyMismatchError(DomainError):
    pass


class MissingDetailError(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"{detail} must not be blank")
        self.detail = detail


class PaymentMismatchError(DomainError):
    """A payment that does not match the order's total (the saga refunds it)."""


class AlreadyPaidError(DomainError):
    """A second, different payment for a paid order (the saga refunds it)."""


# Raised by the handlers, from orders' own views; declared here with the other rules.
class UnknownCustomerError(DomainError):
    def __init__(self, customer_id: UUID) -> None:
        super().__init__(f"customer {customer_id} is not known")
        self.customer_id = customer_id


class InactiveCustomerError(DomainError):
    def __init__(self, customer_id: UUID) -> None:
        super().__init__(f"customer {customer_id} is deactivated and cannot order")
        self.customer_id = customer_id


class UnknownProductError(DomainError):
    def __init__(self, skus: Iterable[str]) -> None:
        self.skus = tuple(sorted(skus))
        super().__init__(f"unknown product(s): {', '.join(self.skus)}")


@dataclass(frozen=True)
class Shortage:
    sku: str
    wanted: int
    available: int


class OutOfStockError(DomainError):
    def __init__(self, shortages: Sequence[Shortage]) -> None:
        self.shortages = tuple(shortages)
        listed = "; ".join(
            f"{s.sku} (wanted {s.wanted}, available {s.available})"
            for s in self.shortages
        )
        super().__init__(f"not enough stock: {listed}")
