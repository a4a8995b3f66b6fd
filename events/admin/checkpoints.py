"""Checkpoints as staff need them: every (subscription, partition) with the
partition's head and the lag, in messages and in seconds, retrying and paused,
worst first. Read-only: replay is ``manage.py events replay``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ..delivery.subscriptions import registry
from ..models import Checkpoint
from ..ops import lag
from .base import ReadOnlyAdmin


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        chosen = request.GET.get("subscription", "")
        rows = lag.checkpoint_lags(subscription=chosen or None)
        return self.page(
            request,
            "admin/events/checkpoints.html",
            title="Checkpoints by lag",
            rows=rows,
            chosen=chosen,
            subscriptions=[s.name for s in registry.all()],
            behind=sum(r.lag for r in rows),
            retrying=sum(r.retrying for r in rows),
        )
