"""The event-sourced Order: its rules (``order``), its state and fold (``state``) and
its errors (``errors``). Plain Python: no Django and no I/O beyond the Aggregate base.
"""

from .errors import (
    AlreadyPaidError,
    CurrencyMismatchError,
    DomainError,
    EmptyOrderError,
    InactiveCustomerError,
    InvalidTransitionError,
    ItemNotInOrderError,
    MissingDetailError,
    OrderAlreadyExistsError,
    OrderClosedError,
    OrderNotFoundError,
    OutOfStockError,
    PaymentMismatchError,
    QuantityError,
    Shortage,
    TooManyLinesError,
    UnknownCustomerError,
    UnknownProductError,
)
from .order import MAX_LINES, MAX_QUANTITY, Order, check_quantity, merge_items
from .state import CLOSED, OrderState, OrderStatus, PaymentStatus, evolve

__all__ = [
    "CLOSED",
    "MAX_LINES",
    "MAX_QUANTITY",
    "AlreadyPaidError",
    "CurrencyMismatchError",
    "DomainError",
    "EmptyOrderError",
    "InactiveCustomerError",
    "InvalidTransitionError",
    "ItemNotInOrderError",
    "MissingDetailError",
    "Order",
    "OrderAlreadyExistsError",
    "OrderClosedError",
    "OrderNotFoundError",
    "OrderState",
    "OrderStatus",
    "PaymentStatus",
    "OutOfStockError",
    "PaymentMismatchError",
    "QuantityError",
    "Shortage",
    "TooManyLinesError",
    "UnknownCustomerError",
    "UnknownProductError",
    "check_quantity",
    "evolve",
    "merge_items",
]
