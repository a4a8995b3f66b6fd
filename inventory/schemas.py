"""API schemas of the catalogue (the HTTP shapes; not the messages of contracts.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import Field

MONEY = r"^\d+\.\d{2}$"


def money(amount: Decimal) -> str:
    """A decimal string with two places ("12.50"), never a float."""
    return f"{amount:.2f}"


class ProductOut(Schema):
    sku: str
    name: str
    price: str = Field(pattern=MONEY, examples=["12.50"])
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    available: int = Field(ge=0, description="On hand, less what orders hold.")

    @classmethod
    def of(cls, row: dict[str, Any]) -> ProductOut:
        return cls(
            sku=row["sku"],
            name=row["name"],
            price=money(row["price"]),
            currency=row["currency"],
            available=max(row["on_hand"] - row["reserved"], 0),
        )


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )
