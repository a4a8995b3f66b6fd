"""The admin's Event catalog: a page listing every message type, and one per type
with the schema of each version. Staff only (wrapped in ``admin.site.admin_view`` by
``events.schemas.urls``); read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from . import catalog


@require_GET
def catalog_index(request: HttpRequest) -> HttpResponse:
    found, strays = catalog.entries()
    context = {
        **admin.site.each_context(request),
        "title": "Event catalog",
        "entries": found,
        "strays": strays,
        "totals": {
            "messages": sum(e.messages_in_log for e in found),
            "lag": sum(e.lag for e in found),
            "parked": sum(e.parked for e in found),
        },
    }
    return TemplateResponse(request, "admin/events/catalog.html", context)


@require_GET
def catalog_message(request: HttpRequest, name: str) -> HttpResponse:
    found = catalog.entry(name)
    if found is None:
        raise Http404(f"no message type {name!r} is declared")
    context = {
        **admin.site.each_context(request),
        "title": f"{found.name} (v{found.spec.version})",
        "entry": found,
    }
    return TemplateResponse(request, "admin/events/catalog_message.html", context)
