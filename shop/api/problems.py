"""Every error of the API as ``application/problem+json`` (RFC 9457), in one place.

Handlers raise; they never build error responses. This module maps what they raise
(DomainError subclasses of every app, validation errors, idempotency-key errors, auth
and rate-limit refusals, anything unexpected) to a status, a problem type and a
detail, and renders the body: ``type``, ``title``, ``status``, ``detail``,
``instance`` (the request path), ``correlation_id``, plus ``errors`` for field problems
and ``shortages`` when stock is short. A 500 says nothing of the exception: it is
logged with the correlation id the client sees.

A database that cannot be reached (Django's OperationalError or InterfaceError, on
connecting or on a connection that died mid-request) is a 503 with Retry-After, not a
500: the client should retry later, the request was not wrong and nothing is broken
in the code; ``/health/ready`` says the same to the load balancer. Whether it can be
reached is asked of the database itself (``SELECT 1``, as ``/health/ready`` does):
the same exception classes come from a database that answers (SQLite's "no such
table" when migrations were not run), and that is a 500, a fault to fix, not a wait.

A request that holds an Idempotency-Key attempt is settled here too: a client error
is stored as the key's response (a retry gets the same answer), a server error or a
transient conflict abandons the key (a retry runs again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import Http404, HttpRequest, HttpResponse

from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from customers.accounts import EmailTakenError
from customers.tokens import InvalidCredentialsError
from events import (
    ConcurrencyConflict,
    DomainError,
    current_correlation_id,
    idempotency,
)
from orders import domain as orders

from .parser import BodyRejected
from .ratelimit import RateLimited

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "tag:shop.example,2026:problems/"  # not dereferenceable: an identifier


@dataclass(frozen=True)
class Kind:
    """A problem type: its status, its ``type`` slug (None: ``about:blank``, the
    status says it all) and its title. ``retryable`` problems are transient: they do
    not become an idempotency key's stored answer."""

    status: int
    slug: str | None = None
    title: str = ""
    retryable: bool = False

    @property
    def type(self) -> str:
        return TYPE_BASE + self.slug if self.slug else "about:blank"

    @property
    def heading(self) -> str:
        return self.title or HTTPStatus(self.status).phrase


INVALID_ORDER = Kind(422, "invalid-order", "The order breaks a rule")
# Looked up along the exception's MRO, so a subclass may refine its base.
DOMAIN_ERRORS: Mapping[type[Exception], Kind] = {
    orders.OutOfStockError: Kind(409, "out-of-stock", "Not enough stock"),
    orders.InvalidTransitionError: Kind(
        409, "invalid-transition", "The order cannot do that in its current status"
    ),
    orders.OrderAlreadyExistsError: Kind(409, "order-exists", "The order exists"),
    orders.OrderNotFoundError: Kind(404),
    orders.UnknownProductError: Kind(422, "unknown-product", "Unknown product"),
    orders.QuantityError: INVALID_ORDER,
    orders.EmptyOrderError: INVALID_ORDER,
    orders.TooManyLinesError: INVALID_ORDER,
    orders.CurrencyMismatchError: INVALID_ORDER,
    orders.MissingDetailError: INVALID_ORDER,
    orders.UnknownCustomerError: Kind(
        409,
        "customer-not-ready",
        "The account is not ready to order yet: retry in a moment",
        retryable=True,
    ),
    orders.InactiveCustomerError: Kind(403, "customer-inactive", "Account disabled"),
    EmailTakenError: Kind(409, "email-taken", "The email is already registered"),
    InvalidCredentialsError: Kind(401, "invalid-credentials", "Invalid credentials"),
    DomainError: Kind(422, "rule-broken", "The request breaks a business rule"),
}


def kind_of(error: Exception) -> Kind:
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls]
    raise LookupError(type(error))


def render(
    request: HttpRequest,
    kind: Kind,
    detail: str,
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """The problem response (and the settling of the request's idempotency key)."""
    correlation = getattr(request, "correlation_id", None) or current_correlation_id()
    body = {
        "type": kind.type,
        "title": kind.heading,
        "status": kind.status,
        "detail": detail,
        "instance": request.path,
        "correlation_id": str(correlation) if correlation else None,
        **(extra or {}),
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=kind.status,
        content_type=MEDIA_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    _settle_idempotency(request, response, retryable=kind.retryable)
    return response


def for_status(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    """A plain problem for an HTTP status (404, 405, 413, 500...)."""
    return render(request, Kind(status), detail)


def _settle_idempotency(
    request: HttpRequest, response: HttpResponse, *, retryable: bool
) -> None:
    attempt = idempotency.detach(request)
    if attempt is None:
        return
    if retryable or response.status_code >= 500:
        try:
            attempt.abandon()
        except DatabaseError as error:  # the database is down: the key's lease ends
            logger.warning("idempotency key left in flight until its lease: %s", error)
        return
    kept = {
        name: response[name]
        for name in ("Content-Type", "Retry-After", "Location")
        if name in response
    }
    try:
        attempt.complete(
            idempotency.StoredResponse(
                status=response.status_code,
                body=response.content.decode(),
                headers=kept,
            )
        )
    except idempotency.KeyInUse:
        logger.warning("idempotency key taken over before its error was stored")


# --- the handlers -------------------------------------------------------------------


def _field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [
                str(part) if not isinstance(part, int) else part for part in e["loc"]
            ],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "value_error")),
        }
        for e in errors
    ]


def on_domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    kind = kind_of(error)
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(error, orders.OutOfStockError):
        extra["shortages"] = [
            {"sku": s.sku, "wanted": s.wanted, "available": max(s.available, 0)}
            for s in error.shortages
        ]
    if kind.retryable:
        headers["Retry-After"] = "1"
    return render(request, kind, str(error), extra=extra, headers=headers)


def on_validation_error(
    request: HttpRequest, error: NinjaValidationError
) -> HttpResponse:
    return render(
        request,
        Kind(422, "validation", "The request is not valid"),
        "one or more fields are not valid: see errors",
        extra={"errors": _field_errors(error.errors)},
    )


def on_django_validation_error(
    request: HttpRequest, error: DjangoValidationError
) -> HttpResponse:
    errors: list[dict[str, Any]] = []
    for field, messages in getattr(error, "message_dict", {"": error.messages}).items():
        loc = ["body"] if field in ("", "__all__") else ["body", field]
        errors.extend({"loc": loc, "msg": m, "type": "value_error"} for m in messages)
    return render(
        request,
        Kind(422, "validation", "The request is not valid"),
        "one or more fields are not valid: see errors",
        extra={"errors": errors},
    )


def on_unauthenticated(
    request: HttpRequest, error: AuthenticationError
) -> HttpResponse:
    given = bool(request.headers.get("Authorization"))
    challenge = 'Bearer realm="api", error="invalid_token"' if given else "Bearer"
    detail = (
        "the bearer token is not valid: unknown, expired or revoked"
        if given
        else "this operation needs an Authorization: Bearer <token> header"
    )
    return render(request, Kind(401), detail, headers={"WWW-Authenticate": challenge})


def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    cause = error.__cause__
    detail = str(cause) if isinstance(cause, BodyRejected) else str(error)
    if error.status_code == 400 and not isinstance(cause, BodyRejected):
        detail = "the body cannot be parsed as JSON"
    return render(request, Kind(error.status_code), detail)


def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return render(request, Kind(404), str(error) or "no such resource")


def on_rate_limited(request: HttpRequest, error: RateLimited) -> HttpResponse:
    return render(
        request,
        Kind(429, "rate-limited", "Too many requests"),
        str(error),
        headers={"Retry-After": str(error.retry_after)},
    )


def on_idempotency_error(
    request: HttpRequest, error: idempotency.IdempotencyError
) -> HttpResponse:
    if isinstance(error, idempotency.InvalidKey):
        kind = Kind(400, "idempotency-key-invalid", "Invalid Idempotency-Key")
    elif isinstance(error, idempotency.KeyReused):
        kind = Kind(422, "idempotency-key-reused", "Idempotency-Key reused")
    else:
        kind = Kind(409, "idempotency-key-in-use", "Request in progress", True)
    headers = {"Retry-After": "1"} if kind.status == 409 else {}
    return render(request, kind, str(error), headers=headers)


def on_conflict(request: HttpRequest, error: ConcurrencyConflict) -> HttpResponse:
    return render(
        request,
        Kind(409, "concurrent-change", "Changed concurrently: retry", retryable=True),
        "the resource was changed by another request at the same time; retry",
        headers={"Retry-After": "1"},
    )


DATABASE_UNAVAILABLE = Kind(
    503, "database-unavailable", "The database cannot be reached", retryable=True
)


def _database_answers() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def on_database_error(request: HttpRequest, error: DatabaseError) -> HttpResponse:
    if _database_answers():
        return on_unexpected(request, error)
    logger.warning(
        "database unavailable on %s %s (correlation id %s): %s: %s",
        request.method,
        request.path,
        getattr(request, "correlation_id", None),
        type(error).__name__,
        str(error).strip().splitlines()[0] if str(error).strip() else "",
    )
    retry_after = settings.API_DATABASE_RETRY_AFTER_SECONDS
    return render(
        request,
        DATABASE_UNAVAILABLE,
        "the shop cannot reach its database just now; retry in "
        f"{retry_after} seconds (POST /orders with the same Idempotency-Key, so "
        "that a request that did go through is not placed twice)",
        headers={"Retry-After": str(retry_after)},
    )


def on_unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.error(
        "unhandled error on %s %s (correlation id %s)",
        request.method,
        request.path,
        getattr(request, "correlation_id", None),
        exc_info=error,
    )
    return for_status(
        request, 500, "the server failed to answer; it is logged under correlation_id"
    )


def install(api: NinjaAPI) -> None:
    """Replace ninja's default handlers (which answer plain JSON, or re-raise) with
    these. Lookup goes along the exception's MRO: the most specific class wins."""
    handlers: dict[type[Exception], Any] = {
        DomainError: on_domain_error,
        NinjaValidationError: on_validation_error,
        DjangoValidationError: on_django_validation_error,
        AuthenticationError: on_unauthenticated,
        HttpError: on_http_error,
        Http404: on_not_found,
        RateLimited: on_rate_limited,
        idempotency.IdempotencyError: on_idempotency_error,
        ConcurrencyConflict: on_conflict,
        OperationalError: on_database_error,
        InterfaceError: on_database_error,
        Exception: on_unexpected,
    }
    for exception, handler in handlers.items():
        api.add_exception_handler(exception, handler)
