"""API schemas of customers (the HTTP shapes; not the messages of contracts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ninja import Schema
from pydantic import Field, StringConstraints, field_validator

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    Field(examples=["ann@example.com"]),
]


class CustomerIn(Schema):
    email: Email
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    password: str = Field(
        min_length=8, max_length=128, description="At least 8 characters."
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


class TokenIn(Schema):
    email: Email
    password: str = Field(min_length=1, max_length=128)


class TokenOut(Schema):
    token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    expires_at: datetime
