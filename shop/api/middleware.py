"""Request middleware: correlation ids for every request, guards for /api/.

``CorrelationIdMiddleware``: the request's ``X-Correlation-ID`` (a UUID) or a new one,
echoed on the response and active while the request runs
(``events.correlation_scope``), so every event the request causes, and every
event those cause in turn, carries it. Every log line written for the request carries
it too (``correlation_id``, bound with ``structlog.contextvars`` until the response is
closed: Django's own line for a 4xx or 5xx answer, written after the middleware, has
it), and each ``/api/`` request ends with one ``request`` line (method, path, status,
duration).

``ApiGuardMiddleware``, for paths under ``/api/``: refuses before any view runs what
must never reach one (a body over ``API_MAX_BODY_BYTES``: 413, judged by
Content-Length before a byte is read; a body that is not JSON: 415; a NUL character in
the path or query: 400), and turns every error response that is not problem+json yet
(Django's 404 for an unknown URL, ninja's 405, a 400 for a bad Host, a 500 page) into
one, keeping its headers (``Allow``) and never showing a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID, uuid4

from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

import structlog

from events import correlation_scope

from . import problems

API_PREFIX = "/api/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
HEADER = "X-Correlation-ID"
requests_log = structlog.get_logger("shop.api.requests")


def correlation_id_of(request: HttpRequest) -> UUID:
    given = request.headers.get(HEADER, "")
    try:
        return UUID(given.strip()) if 0 < len(given) <= 64 else uuid4()
    except ValueError:
        return uuid4()  # not a UUID (events store UUIDs): start a fresh one


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation = correlation_id_of(request)
        # an attribute of ours on the request, read back by shop.api.problems
        request.correlation_id = correlation  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(correlation_id=str(correlation))
        started = time.perf_counter()
        with correlation_scope(correlation):
            response = self.get_response(request)
        response[HEADER] = str(correlation)
        if request.path.startswith(API_PREFIX):
            requests_log.info(
                "request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        return response


def _unbind_correlation(**_: object) -> None:
    """The response is closed (sent): this thread's next lines are no request's."""
    structlog.contextvars.unbind_contextvars("correlation_id")


request_finished.connect(_unbind_correlation, dispatch_uid="shop.unbind_correlation")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class ApiGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        response = self.refusal(request) or self.get_response(request)
        if response.status_code >= 400 and not response.get(
            "Content-Type", ""
        ).startswith(problems.MEDIA_TYPE):
            response = self.as_problem(request, response)
        return response

    @staticmethod
    def refusal(request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return problems.for_status(
                request, 400, "the path or query contains a NUL character"
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problems.for_status(request, 400, "the Content-Length is not valid")
        if length > settings.API_MAX_BODY_BYTES:
            return problems.for_status(
                request,
                413,
                f"the body is {length} bytes long; "
                f"at most {settings.API_MAX_BODY_BYTES} are accepted",
            )
        if (
            length
            and request.method in BODY_METHODS
            and not _is_json(request.content_type or "")
        ):
            return problems.render(
                request,
                problems.Kind(415),
                f"the body must be application/json, not {request.content_type!r}",
                headers={"Accept-Post": "application/json"},
            )
        return None

    @staticmethod
    def as_problem(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        status = response.status_code
        detail = {
            404: f"nothing at {request.path}",
            405: f"{request.method} is not allowed here",
            500: "the server failed to answer; it is logged under correlation_id",
        }.get(status, "the request cannot be answered")
        problem = problems.for_status(request, status, detail)
        for name, value in response.items():
            if name.lower() not in ("content-type", "content-length"):
                problem[name] = value
        return problem
