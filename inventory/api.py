"""The catalogue of the storefront API: public, read from inventory's own table
(``available`` is on hand less what orders hold)."""

from __future__ import annotations

import base64
import binascii

from django.http import Http404, HttpRequest

from ninja import Query, Router
from ninja.errors import ValidationError

from . import queries
from .schemas import ProductOut, ProductPage

router = Router(tags=["products"])
MAX_PAGE = 100


def encode_cursor(sku: str) -> str:
    return base64.urlsafe_b64encode(sku.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The SKU a page starts after; a cursor we did not make is a 422."""
    try:
        sku = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sku = ""
    if not sku or len(sku) > 64 or "\x00" in sku:
        raise ValidationError(
            [
                {
                    "loc": ("query", "cursor"),
                    "msg": "not a valid cursor",
                    "type": "cursor",
                }
            ]
        )
    return sku


@router.get(
    "/products",
    response=ProductPage,
    auth=None,
    summary="The catalogue, in SKU order, a page at a time",
)
def list_products(
    request: HttpRequest,
    cursor: str | None = Query(None, max_length=200),
    page_size: int = Query(20, ge=1, le=MAX_PAGE),
) -> ProductPage:
    after = decode_cursor(cursor) if cursor is not None else None
    rows = queries.products(after=after, limit=page_size + 1)
    more = len(rows) > page_size
    rows = rows[:page_size]
    return ProductPage(
        items=[ProductOut.of(row) for row in rows],
        next_cursor=encode_cursor(rows[-1]["sku"]) if more else None,
    )


@router.get(
    "/products/{sku}",
    response=ProductOut,
    auth=None,
    summary="One product",
    openapi_extra={"responses": {404: {"description": "No product has this SKU."}}},
)
def get_product(request: HttpRequest, sku: str) -> ProductOut:
    row = queries.product(sku)
    if row is None:
        raise Http404(f"no product has the SKU {sku!r}")
    return ProductOut.of(row)
