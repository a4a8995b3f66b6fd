"""Dead letters: what each one was for (its order, or its key, linked), grouped by
failure, and redriven or discarded through the platform (never edited).

A redrive that holds a command of a saga that has ended says so and sends nothing,
unless staff choose to send it anyway (``events.ops.redrive``). A failure group is
redriven one letter first, the rest only if that one was handled.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ..delivery import deadletters
from ..models import DeadLetter
from ..ops import failure_groups, redrive
from ..ops.links import key_link
from .base import ReadOnlyAdmin, key_anchor

ENDED_CHOICES = ("refuse", "skip", "include")


def report(
    admin_: admin.ModelAdmin[Any], request: HttpRequest, done: redrive.Redrive
) -> None:
    """Tell staff what a redrive did, one message per refusal and failure."""
    for letter_id, why in done.refused.items():
        admin_.message_user(
            request,
            f"Dead letter {letter_id} not sent: {why}.",
            level=messages.WARNING,
        )
    for letter_id, error in done.failed.items():
        admin_.message_user(
            request, f"Dead letter {letter_id} failed again: {error}", messages.ERROR
        )
    # the admin styles INFO like SUCCESS (green): a redrive that left letters
    # failing or unsent is a warning, whatever else it did
    if done.failed or done.held_back or done.refused:
        level = messages.WARNING
    else:
        level = messages.SUCCESS if done.handled else messages.INFO
    admin_.message_user(request, done.summary().capitalize() + ".", level)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "subscription",
        "type",
        "for_key",
        "status",
        "attempts",
        "error_class",
        "short_error",
        "parked_at",
        "trace_link",
    )
    list_filter = ("status", "subscription", "type")
    search_fields = ("=correlation_id", "=message_id", "=key")
    actions = ("redrive", "redrive_even_if_saga_ended", "discard")
    change_list_template = "admin/events/deadletter/change_list.html"
    change_form_template = "admin/events/deadletter/change_form.html"

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("events.change_deadletter")

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        return ["for_key", *(f.name for f in DeadLetter._meta.fields)]

    # --- columns -------------------------------------------------------------------

    @admin.display(description="for", ordering="key")
    def for_key(self, letter: DeadLetter) -> str:
        return key_anchor(key_link(letter.type, letter.key)) or format_html(
            '<a href="{}">{}</a>', _trace_url(letter.key), letter.key
        )

    @admin.display(description="error class")
    def error_class(self, letter: DeadLetter) -> str:
        return failure_groups.error_class(letter.error)

    @admin.display(description="error")
    def short_error(self, letter: DeadLetter) -> str:
        return failure_groups.shape(letter.error)

    @admin.display(description="trace")
    def trace_link(self, letter: DeadLetter) -> str:
        return format_html(
            '<a href="{}">trace</a>', _trace_url(str(letter.correlation_id))
        )

    # --- actions -------------------------------------------------------------------

    @admin.action(
        description="Redrive selected dead letters (deliver once more)",
        permissions=["change"],
    )
    def redrive(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        report(self, request, redrive.redrive(_ids(queryset)))

    @admin.action(
        description="Redrive selected, even those whose saga has ended",
        permissions=["change"],
    )
    def redrive_even_if_saga_ended(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter]
    ) -> None:
        report(self, request, redrive.redrive(_ids(queryset), ended="include"))

    @admin.action(
        description="Discard selected dead letters (keep the record)",
        permissions=["change"],
    )
    def discard(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        count = deadletters.discard(_ids(queryset))
        self.message_user(request, f"Discarded {count} dead letters.")

    # --- pages ---------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("groups/", view(self.groups_view), name="events_deadletter_groups"),
            path(
                "groups/<str:gid>/",
                view(self.group_view),
                name="events_deadletter_group",
            ),
            path(
                "groups/<str:gid>/redrive/",
                view(require_POST(self.group_redrive_view)),
                name="events_deadletter_group_redrive",
            ),
            path(
                "<int:letter_id>/redrive/",
                view(require_POST(self.letter_redrive_view)),
                name="events_deadletter_redrive",
            ),
            *super().get_urls(),
        ]

    def groups_view(self, request: HttpRequest) -> HttpResponse:
        status = request.GET.get("status", DeadLetter.Status.PARKED)
        if status not in (*DeadLetter.Status.values, "any"):
            raise Http404(f"no dead letter status {status!r}")
        found = failure_groups.groups(
            status=None if status == "any" else status,
            subscription=request.GET.get("subscription") or None,
            type=request.GET.get("type") or None,
        )
        return self.page(
            request,
            "admin/events/deadletter/groups.html",
            title="Dead letters by failure",
            groups=found,
            status=status,
            statuses=[*DeadLetter.Status.values, "any"],
            letters=sum(g.count for g in found),
        )

    def group_view(self, request: HttpRequest, gid: str) -> HttpResponse:
        group = self._group(gid)
        letters = DeadLetter.objects.filter(id__in=group.letter_ids).order_by(
            "parked_at", "id"
        )
        late = redrive.warnings(group.letter_ids)
        parked = sum(letter.status == DeadLetter.Status.PARKED for letter in letters)
        return self.page(
            request,
            "admin/events/deadletter/group.html",
            title=f"{group.count} × {group.type} in {group.subscription}",
            group=group,
            letters=[
                _letter_row(letter, late.get(letter.id, "")) for letter in letters
            ],
            parked=parked,
            late=len(late),
            still_open=parked - len(late),
            can_redrive=self.has_change_permission(request),
        )

    def group_redrive_view(self, request: HttpRequest, gid: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        ended = request.POST.get("ended", "refuse")
        if ended not in ENDED_CHOICES:
            ended = "refuse"
        try:
            done = redrive.redrive_group(gid, ended=cast(redrive.Ended, ended))
        except failure_groups.UnknownGroup as error:
            self.message_user(request, str(error), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:events_deadletter_groups"))
        report(self, request, done)
        if done.refused and not done.sent:
            self.message_user(
                request,
                "Nothing was sent. Choose below whether to leave those out or to "
                "send them too.",
                messages.WARNING,
            )
        return HttpResponseRedirect(
            reverse("admin:events_deadletter_group", args=[gid])
        )

    def letter_redrive_view(self, request: HttpRequest, letter_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        letter = get_object_or_404(DeadLetter, id=letter_id)
        ended: redrive.Ended = (
            "include" if request.POST.get("ended") == "include" else "refuse"
        )
        report(self, request, redrive.redrive([letter.id], ended=ended))
        back = request.POST.get("next") or reverse(
            "admin:events_deadletter_change", args=[letter.id]
        )
        return HttpResponseRedirect(_safe(request, back))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        letter = DeadLetter.objects.filter(pk=object_id).first()
        context = dict(extra_context or {})
        if letter is not None:
            row = _letter_row(letter, redrive.warnings([letter.id]).get(letter.id, ""))
            gid = failure_groups.group_id(
                letter.subscription,
                letter.type,
                failure_groups.error_class(letter.error),
                failure_groups.shape(letter.error),
            )
            context.update(letter_row=row, group_id=gid)
        return super().change_view(request, object_id, form_url, context)

    def _group(self, gid: str) -> failure_groups.FailureGroup:
        try:
            return failure_groups.find(gid, status=None)
        except failure_groups.UnknownGroup as error:
            raise Http404(str(error)) from None


def _ids(queryset: QuerySet[DeadLetter]) -> list[int]:
    return list(queryset.order_by("parked_at", "id").values_list("id", flat=True))


def _trace_url(asked: str) -> str:
    return f"{reverse('admin:events_logentry_trace')}?q={asked}"


def _letter_row(letter: DeadLetter, warning: str) -> dict[str, Any]:
    return {
        "letter": letter,
        "link": key_link(letter.type, letter.key),
        "warning": warning,
    }


def _safe(request: HttpRequest, url: str) -> str:
    """Only a path of this site (a ``next`` field is the browser's to send)."""
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if allowed else reverse("admin:events_deadletter_changelist")
