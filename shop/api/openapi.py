"""Finishing the OpenAPI document so that it tells the whole truth about errors.

Routers declare their success responses and, in ``openapi_extra["responses"]``, the
error statuses particular to an operation (404, 409...) with a description. Here every
operation also gets the errors any request can meet (400 malformed, 422 invalid, 500,
503 database unreachable; 401 when it needs a token; 413 and 415 when it takes a body;
429 when rate-limited), and every error response gets the ``application/problem+json``
content with the one ``Problem`` schema, as ``problems`` renders it. Responses list in
status order, so the committed snapshot of the document changes only when the contract
does.
"""

from __future__ import annotations

from typing import Any

from . import problems

REF = "#/components/schemas/Problem"
HEADERS = {
    "CorrelationId": {
        "description": "The request's correlation id (the one sent, or a new one); "
        "every event the request causes carries it.",
        "schema": {"type": "string", "format": "uuid"},
    },
    "RetryAfter": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    },
}
CORRELATION = {"X-Correlation-ID": {"$ref": "#/components/headers/CorrelationId"}}
RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` identifies the problem "
    "(`about:blank` when the status says it all).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance", "correlation_id"],
    "properties": {
        "type": {"type": "string", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {
            "type": "integer",
            "minimum": 400,
            "maximum": 599,
            "title": "Status",
        },
        "detail": {"type": "string", "title": "Detail"},
        "instance": {"type": "string", "title": "Instance"},
        "correlation_id": {
            "type": "string",
            "format": "uuid",
            "title": "Correlation Id",
        },
        "errors": {
            "type": "array",
            "description": "Field problems (422): where, what and why.",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "shortages": {
            "type": "array",
            "description": "What is short (out of stock, 409).",
            "items": {
                "type": "object",
                "required": ["sku", "wanted", "available"],
                "properties": {
                    "sku": {"type": "string"},
                    "wanted": {"type": "integer"},
                    "available": {"type": "integer"},
                },
            },
        },
    },
}
COMMON = {
    400: "Malformed request: the body is not UTF-8 JSON, nests too deeply, holds a NUL "
    "character; or a NUL in the path or query.",
    422: "Validation failed: `errors` lists each field problem.",
    500: "The server failed; nothing is shown but the correlation id it is logged "
    "under.",
    503: "The database cannot be reached just now: retry after `Retry-After` "
    "seconds (whether an interrupted request took effect is unknown: retry "
    "`POST /orders` with the same `Idempotency-Key`).",
}
AUTHENTICATED = {401: "No bearer token, or an unknown, expired or revoked one."}
WITH_BODY = {
    413: "The body is larger than the accepted maximum (64 KiB by default).",
    415: "The body is not `application/json`.",
}
LIMITED = {
    429: "Too many requests from this caller: wait `Retry-After` seconds.",
}


def finish(schema: dict[str, Any], *, rate_limited: set[str]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["headers"] = HEADERS
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            _complete(operation, limited=operation["operationId"] in rate_limited)
    return schema


def _complete(operation: dict[str, Any], *, limited: bool) -> None:
    responses = {int(code): answer for code, answer in operation["responses"].items()}
    extra = dict(COMMON)
    if operation.get("security"):
        extra.update(AUTHENTICATED)
    if "requestBody" in operation:
        extra.update(WITH_BODY)
    if limited:
        extra.update(LIMITED)
    for code, description in extra.items():
        responses.setdefault(code, {"description": description})
    for code, answer in responses.items():
        headers = answer.setdefault("headers", {})
        headers.update(CORRELATION)
        if code >= 400:
            answer["content"] = {problems.MEDIA_TYPE: {"schema": {"$ref": REF}}}
        if code in (409, 429, 503):
            headers.update(RETRY_AFTER)
    operation["responses"] = {str(code): responses[code] for code in sorted(responses)}
