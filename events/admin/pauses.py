"""Paused subscriptions: an outage's (probed until a probe succeeds) or staff's
(``manage.py events pause``); staff resume them here."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..delivery import outages
from ..dispatch.current import wake_subscription
from ..models import SubscriptionPause
from .base import ReadOnlyAdmin


@admin.register(SubscriptionPause)
class SubscriptionPauseAdmin(ReadOnlyAdmin):
    list_display = ("subscription", "reason", "paused_at", "probe_at", "probes", "by")
    actions = ("resume",)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("events.change_subscriptionpause")

    @admin.action(description="Resume the selected subscriptions")
    def resume(
        self, request: HttpRequest, queryset: QuerySet[SubscriptionPause]
    ) -> None:
        names = list(queryset.values_list("subscription", flat=True))
        who = request.user.get_username()
        for name in names:
            if outages.resume(name, why=f"resumed by {who} in the admin"):
                wake_subscription(name)
        self.message_user(request, f"Resumed {len(names)} subscription(s).")
