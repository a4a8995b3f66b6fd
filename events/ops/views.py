"""The platform's HTTP endpoint: Prometheus metrics (``events.ops.exposition``)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .exposition import authorized, counters_text
from .metrics import platform_registry


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus' text format: the web program's counters and the
    database's gauges; with ``EVENTS_METRICS_TOKEN`` set, only for ``Authorization:
    Bearer <token>`` (a scraper's credentials)."""
    token = getattr(settings, "EVENTS_METRICS_TOKEN", "")
    if not authorized(request.headers.get("Authorization", ""), token):
        return HttpResponse("metrics need the scraper's bearer token\n", status=401)
    return HttpResponse(
        counters_text() + generate_latest(platform_registry()),
        content_type=CONTENT_TYPE_LATEST,
    )
