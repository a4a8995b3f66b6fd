"""The platform's HTTP endpoint: Prometheus metrics (``events.metrics``)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import platform_registry


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus' text format; with ``EVENTS_METRICS_TOKEN`` set, only
    for ``Authorization: Bearer <token>`` (a scraper's credentials)."""
    token = getattr(settings, "EVENTS_METRICS_TOKEN", "")
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        return HttpResponse("metrics need the scraper's bearer token\n", status=401)
    return HttpResponse(
        generate_latest(platform_registry()), content_type=CONTENT_TYPE_LATEST
    )
