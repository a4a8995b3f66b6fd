"""Customers' own tables: the customers and their API tokens."""

import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.db import models


class Customer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200)
    password = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "customers_customer"

    def __str__(self) -> str:
        return self.email

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)


class ApiToken(models.Model):
    """A bearer token of the storefront API. Only its SHA-256 digest is stored: the
    token is 256 random bits, so a fast hash is enough (nothing to brute-force) and a
    leaked table grants nothing. ``prefix`` (its first characters) lets staff and the
    customer recognise a token without it being usable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "customers_api_token"
        verbose_name = "API token"
        indexes = [models.Index(fields=["expires_at"], name="customers_token_expiry")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.customer_id})"
