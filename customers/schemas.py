"""API schemas of customers (the HTTP shapes; not the messages of contracts.py).

Request bodies are validated strictly (``BodyIn``): no value of another JSON type is
coerced (lax mode would take ``true`` or ``1`` where a string is not wanted either)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints, field_validator

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    Field(examples=["ann@example.com"]),
]


class BodyIn(Schema):
    """Base of request bodies: strict types (see the module docstring)."""

    model_config = ConfigDict(strict=True)


class CustomerIn(BodyIn):
    email: Email
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    # The rules themselves are the project's AUTH_PASSWORD_VALIDATORS, applied when
    # the account is created (customers.registration), as for the CLI.
    password: str = Field(
        max_length=128,
        description="Checked against the password rules: "
        + " ".join(password_validators_help_texts()),
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            validate_email(value)
        except ValidationError:
            raise ValueError("not a valid email address") from None
        return value.lower()


class CustomerOut(Schema):
    customer_id: UUID
    email: str
    name: str


class TokenIn(BodyIn):
    email: Email
    password: str = Field(min_length=1, max_length=128)


class TokenOut(Schema):
    token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    expires_at: datetime
