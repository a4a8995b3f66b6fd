"""The log, read-only, and the causation trace of anything in it: a correlation id,
a message id, or a key (an order's id), as ``events.ops.causation.trace`` tells it."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from ..models import LogEntry
from ..ops import causation
from ..ops.tree import tree_rows
from .base import ReadOnlyAdmin


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "partition",
        "offset",
        "topic",
        "type",
        "key",
        "recorded_at",
        "correlation_id",
    )
    list_filter = ("topic", "partition")
    search_fields = ("=key", "=correlation_id", "=message_id", "type")
    ordering = ("-recorded_at", "-id")
    show_full_result_count = False

    def get_urls(self) -> list[URLPattern]:
        trace = self.admin_site.admin_view(self.trace_view)
        return [
            path("trace/", trace, name="events_logentry_trace"),
            *super().get_urls(),
        ]

    def trace_view(self, request: HttpRequest) -> TemplateResponse:
        """``?q=`` a correlation id, a message id or a key."""
        asked = request.GET.get("q", "").strip()
        found, error = None, ""
        if asked:
            try:
                found = causation.trace(asked)
            except causation.UnknownTraceTarget as unknown:
                error = str(unknown)
        return self.page(
            request,
            "admin/events/trace.html",
            title=f"Trace of {asked}" if asked else "Trace",
            asked=asked,
            trace=found,
            rows=tree_rows(found) if found else [],
            error=error,
        )
