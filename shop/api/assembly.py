"""The NinjaAPI of the storefront, assembled from the apps' routers.

Everything project-wide is attached here, so the routers stay plain: the bearer auth
is the default of every operation (an operation opts out with ``auth=None``), the
strict JSON parser reads every body, the renderer writes times to the microsecond
(so a time the API gives works as ``as_of``), the problem+json handlers answer every
error, and the rate limiter wraps every operation (limits by operation id, from
settings).
Operation ids are the view functions' names (``place_order``), unique across apps:
they name the operations in the schema, in ``API_RATE_LIMITS`` and in URL names.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI, Swagger
from ninja.errors import ValidationError, ValidationErrorContext
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from customers.api import router as customers
from inventory.api import router as inventory
from orders.api import router as orders

from . import openapi, problems, ratelimit
from .auth import BearerToken
from .parser import StrictJSONParser
from .rendering import FullPrecisionRenderer

DESCRIPTION = """The storefront API of the shop.

* **Auth**: `POST /api/v1/tokens` with email and password returns a bearer token; send
  it as `Authorization: Bearer <token>`. Tokens expire (`expires_at`) and can be
  revoked (`DELETE /api/v1/tokens/current`).
* **Errors** are `application/problem+json` (RFC 9457) with `correlation_id`; field
  problems are listed in `errors`.
* **Idempotency**: `POST /api/v1/orders` takes an `Idempotency-Key` header (at most 255
  printable ASCII characters), scoped to the customer, kept 24 hours after its first
  use. A retry with the same key and body replays the first answer with
  `Idempotent-Replayed: true`; the same key with another body is a 422; while the first
  request is still running, a 409.
* **Correlation**: send `X-Correlation-ID` (a UUID) or get one; it is echoed on every
  response and carried by every event the request causes.
* **Money** is a decimal string (`"12.50"`) with an ISO 4217 `currency`.
* Unknown paths answer 404 and wrong methods 405 (with `Allow`), as problems too.
"""


class ShopAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__

    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext[Any]]
    ) -> ValidationError:
        """Field locations as the client sent them: ``["body", "items", 0,
        "quantity"]``. When one schema is the whole body, ninja reads it under the
        view's parameter name (``__read_from_single_attr__``), a name the client
        never sees, and puts it after ``"body"``: it is taken out here."""
        error = super().validation_error_from_error_contexts(error_contexts)
        wrapped = {
            getattr(context.model, "__read_from_single_attr__", None)
            for context in error_contexts
            if context.model.__ninja_param_source__ == "body"
        } - {None}
        for item in error.errors:
            loc = tuple(item["loc"])
            if loc[:1] == ("body",) and loc[1:2] and loc[1] in wrapped:
                item["loc"] = ("body", *loc[2:])
        return error

    def get_openapi_schema(
        self,
        *,
        path_prefix: str | None = None,
        path_params: dict[str, Any] | None = None,
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(
            path_prefix=path_prefix, path_params=path_params
        )
        openapi.finish(schema, rate_limited=ratelimit.limited_operations())
        return schema


def build() -> ShopAPI:
    api = ShopAPI(
        title="Shop storefront API",
        version="1.0.0",
        description=DESCRIPTION,
        urls_namespace="api-v1",
        auth=BearerToken(),
        parser=StrictJSONParser(),
        renderer=FullPrecisionRenderer(),
        docs=Swagger(settings={"persistAuthorization": True}),
    )
    problems.install(api)
    api.add_decorator(ratelimit.rate_limited)
    api.add_router("", customers)
    api.add_router("", inventory)
    api.add_router("", orders)
    return api


api = build()
