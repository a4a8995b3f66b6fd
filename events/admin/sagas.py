"""Sagas as staff read them: each step by name, the state as fields, the timeline of
its messages; and the two staff actions, retry the undo or resolve by hand with a
note saying what was done (``events.sagas.staff``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from ..models import SagaInstance
from ..ops.links import KeyLink, saga_key_link
from ..ops.saga_views import listed_step, saga_view
from ..sagas import staff
from .base import ReadOnlyAdmin, key_anchor


def resolution_note(request: HttpRequest) -> str:
    """The note staff typed, signed with who they are."""
    note = request.POST.get("note", "").strip()
    return f"{note} (by {request.user.get_username()})" if note else ""


@admin.register(SagaInstance)
class SagaInstanceAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "saga",
        "for_key",
        "status",
        "step_named",
        "deadline",
        "reason",
        "updated_at",
    )
    list_filter = ("status", "saga")
    search_fields = ("=key", "=correlation_id")
    actions = ("retry", "resolve")
    ordering = ("-updated_at", "-id")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("events.change_sagainstance")

    @admin.display(description="step", ordering="step")
    def step_named(self, instance: SagaInstance) -> str:
        return listed_step(instance)

    @admin.display(description="for", ordering="key")
    def for_key(self, instance: SagaInstance) -> str:
        return key_anchor(_link(instance)) or instance.key

    # --- actions -------------------------------------------------------------------

    @admin.action(
        description="Retry the compensation of selected sagas", permissions=["change"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[SagaInstance]) -> None:
        self._act(request, queryset, staff.retry, "retried")

    @admin.action(
        description="Mark selected sagas resolved by hand (with a note)",
        permissions=["change"],
    )
    def resolve(
        self, request: HttpRequest, queryset: QuerySet[SagaInstance]
    ) -> TemplateResponse | None:
        note = resolution_note(request)
        if not note:  # first ask what was done
            if "apply" in request.POST:
                self.message_user(
                    request, "Say what was done: the note is required.", messages.ERROR
                )
            return self.page(
                request,
                "admin/events/sagainstance/resolve.html",
                title="Resolve sagas by hand",
                instances=list(queryset),
                action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            )
        self._act(request, queryset, lambda i: staff.resolve(i, note=note), "resolved")
        return None

    def _act(
        self,
        request: HttpRequest,
        queryset: QuerySet[SagaInstance],
        action: Callable[[int], SagaInstance],
        verb: str,
    ) -> None:
        done = 0
        for instance_id in queryset.values_list("id", flat=True):
            try:
                action(instance_id)
                done += 1
            except staff.SagaActionError as error:
                self.message_user(request, f"Refused: {error}.", level=messages.ERROR)
        self.message_user(request, f"{verb.capitalize()} {done} sagas.")

    # --- the saga's page -----------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:instance_id>/retry/",
                view(require_POST(self.retry_view)),
                name="events_sagainstance_retry",
            ),
            path(
                "<int:instance_id>/resolve/",
                view(require_POST(self.resolve_view)),
                name="events_sagainstance_resolve",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        instance = get_object_or_404(SagaInstance, pk=object_id)
        if not self.has_view_permission(request, instance):
            raise PermissionDenied
        return self.page(
            request,
            "admin/events/sagainstance/saga.html",
            title=f"Saga {instance.saga} {instance.key}",
            saga=saga_view(instance),
            link=_link(instance),
            original=instance,
            can_act=self.has_change_permission(request),
        )

    def retry_view(self, request: HttpRequest, instance_id: int) -> HttpResponse:
        return self._staff(request, instance_id, staff.retry, "retried")

    def resolve_view(self, request: HttpRequest, instance_id: int) -> HttpResponse:
        note = resolution_note(request)
        if not note:
            self.message_user(
                request, "Say what was done: the note is required.", messages.ERROR
            )
            return HttpResponseRedirect(_page(instance_id))
        return self._staff(
            request, instance_id, lambda i: staff.resolve(i, note=note), "resolved"
        )

    def _staff(
        self,
        request: HttpRequest,
        instance_id: int,
        action: Callable[[int], SagaInstance],
        verb: str,
    ) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            instance = action(instance_id)
        except staff.SagaActionError as error:
            self.message_user(request, f"Refused: {error}.", messages.ERROR)
        else:
            self.message_user(
                request, f"Saga {instance.key} {verb}: now {instance.status}."
            )
        return HttpResponseRedirect(_page(instance_id))


def _link(instance: SagaInstance) -> KeyLink:
    return saga_key_link(instance.saga, instance.key)


def _page(instance_id: int) -> str:
    return reverse("admin:events_sagainstance_change", args=[instance_id])
