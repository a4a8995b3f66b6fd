"""API tokens: issued for an email and password, random, stored only as a digest,
expiring after ``API_TOKEN_TTL`` and revocable (by the customer through the API, by
staff from the admin or ``manage.py customers revoke-tokens``).

A token authenticates only while it is unexpired, unrevoked and its customer active:
deactivating a customer shuts every one of their tokens at once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from events import DomainError

from .models import ApiToken, Customer

PREFIX = "shp_"  # recognisable by secret scanners and people
MAX_TOKEN_LENGTH = 100  # a longer bearer value is not one of ours: no lookup


class InvalidCredentialsError(DomainError):
    """Unknown email, wrong password or a deactivated customer (one error for all, so
    the answer does not tell which emails exist)."""

    def __init__(self) -> None:
        super().__init__("the email or password is not correct")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(*, email: str, password: str) -> tuple[str, datetime]:
    """A new token for the customer with these credentials, and when it expires.
    Raises InvalidCredentialsError."""
    customer = Customer.objects.filter(email=email.strip().lower()).first()
    if customer is None:
        make_password(password)  # same work as a check: timing tells nothing
        raise InvalidCredentialsError()
    if not customer.check_password(password) or not customer.is_active:
        raise InvalidCredentialsError()
    token = PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    created = ApiToken.objects.create(
        customer=customer,
        digest=digest(token),
        prefix=token[:12],
        created_at=now,
        expires_at=now + settings.API_TOKEN_TTL,
    )
    return token, created.expires_at


def authenticate(token: str) -> UUID | None:
    """The id of the customer a live token belongs to, else None (one query)."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    return (
        ApiToken.objects.filter(
            digest=digest(token),
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            customer__is_active=True,
        )
        .values_list("customer_id", flat=True)
        .first()
    )


def revoke(token: str) -> bool:
    """Revoke one token (the caller's own); False if it was not live."""
    return bool(
        ApiToken.objects.filter(digest=digest(token), revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def revoke_all(*, email: str) -> int:
    """Revoke every live token of a customer; returns how many."""
    return ApiToken.objects.filter(
        customer__email=email.strip().lower(),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(revoked_at=timezone.now())


def prune_expired_tokens(*, now: datetime | None = None) -> int:
    """Delete tokens that expired more than a token lifetime ago (kept that long so
    staff can still see a recently expired or revoked token)."""
    cutoff = (now or timezone.now()) - settings.API_TOKEN_TTL
    deleted, _ = ApiToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
