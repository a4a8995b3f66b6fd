"""The customers' part of the storefront API: registration and bearer tokens.

Registration and login are public (``auth=None``); revoking needs the token itself.
Errors are raised (EmailTakenError, InvalidCredentialsError, ValidationError) and
answered as problem+json by the API's one mapping."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from ninja import Router, Status

from . import accounts, tokens
from .schemas import CustomerIn, CustomerOut, TokenIn, TokenOut

router = Router(tags=["customers"])


@router.post(
    "/customers",
    response={201: CustomerOut},
    auth=None,
    summary="Register a customer",
    openapi_extra={
        "responses": {409: {"description": "A customer has this email already."}}
    },
)
def register_customer(request: HttpRequest, body: CustomerIn) -> Status:
    customer = accounts.register(
        email=body.email, name=body.name, password=body.password
    )
    return Status(
        201,
        CustomerOut(customer_id=customer.id, email=customer.email, name=customer.name),
    )


@router.post(
    "/tokens",
    response={201: TokenOut},
    auth=None,
    summary="Get a bearer token for an email and password",
    openapi_extra={
        "responses": {
            401: {"description": "Unknown email, wrong password or disabled account."}
        }
    },
)
def create_token(request: HttpRequest, body: TokenIn) -> Status:
    token, expires_at = tokens.issue(email=body.email, password=body.password)
    return Status(201, TokenOut(token=token, expires_at=expires_at))


@router.delete(
    "/tokens/current",
    response={204: None},
    summary="Revoke the token this request is authenticated with",
)
def revoke_token(request: HttpRequest) -> HttpResponse:
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    tokens.revoke(token.strip())
    return HttpResponse(status=204)
