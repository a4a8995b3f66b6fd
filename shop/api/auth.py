"""Bearer tokens (``Authorization: Bearer <token>``), checked against customers'
token table. Every API operation requires one unless it declares ``auth=None``
(registration, login, the catalogue): secure by default.

On success ``request.auth`` is the customer's id (a UUID): the routers read the caller
from it and import nothing of this package."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest

from ninja.security import HttpBearer

from customers import tokens


class BearerToken(HttpBearer):
    """Customers' API tokens (POST /api/v1/tokens issues them)."""

    openapi_description = "A token from POST /api/v1/tokens (expires; revocable)."

    def authenticate(self, request: HttpRequest, token: str) -> UUID | None:
        return tokens.authenticate(token.strip())
