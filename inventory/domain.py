"""Reservation rules in plain Python: what an order wants, and what is short."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .contracts import Shortage, StockLine


def wanted(lines: Iterable[StockLine]) -> dict[str, int]:
    """Quantity per SKU, in SKU order (the order rows are locked in); a SKU named on
    several lines is wanted for their sum."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return dict(sorted(totals.items()))


def shortages(
    want: Mapping[str, int], available: Mapping[str, int]
) -> tuple[Shortage, ...]:
    """The lines that cannot be held in full (an unknown SKU has none available).
    Empty means every line can be held."""
    return tuple(
        Shortage(sku=sku, wanted=quantity, available=max(available.get(sku, 0), 0))
        for sku, quantity in want.items()
        if available.get(sku, 0) < quantity
    )


def as_lines(quantities: Mapping[str, int]) -> tuple[StockLine, ...]:
    return tuple(
        StockLine(sku=sku, quantity=q) for sku, q in sorted(quantities.items())
    )
