"""Staff UI of the platform: the log and checkpoints (read-only) and dead letters,
which staff redrive or discard (through ``events.deadletters``, never by editing)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import deadletters, sagas
from .models import Checkpoint, DeadLetter, LogEntry, SagaInstance


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = (
        "subscription",
        "partition",
        "position",
        "failing_offset",
        "attempts",
        "retry_at",
        "last_error",
        "updated_at",
    )
    list_filter = ("subscription",)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "subscription",
        "type",
        "status",
        "attempts",
        "error",
        "parked_at",
        "correlation_id",
    )
    list_filter = ("status", "subscription", "type")
    search_fields = ("=correlation_id", "=message_id", "=key")
    actions = ("redrive", "discard")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("events.change_deadletter")

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        return [f.name for f in DeadLetter._meta.fields]

    @admin.action(description="Redrive selected dead letters (deliver once more)")
    def redrive(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        report = deadletters.redrive(queryset.values_list("id", flat=True))
        self.message_user(
            request,
            f"Redriven {len(report.handled)}, skipped "
            f"{len(report.skipped)} (not parked).",
        )
        for letter_id, error in report.failed.items():
            self.message_user(
                request,
                f"Dead letter {letter_id} failed again: {error}",
                level=messages.ERROR,
            )

    @admin.action(description="Discard selected dead letters (keep the record)")
    def discard(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        count = deadletters.discard(queryset.values_list("id", flat=True))
        self.message_user(request, f"Discarded {count} dead letters.")


@admin.register(SagaInstance)
class SagaInstanceAdmin(ReadOnlyAdmin):
    list_display = ("saga", "key", "status", "step", "deadline", "reason", "updated_at")
    list_filter = ("status", "saga")
    search_fields = ("=key", "=correlation_id")
    actions = ("retry", "resolve")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("events.change_sagainstance")

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        return [f.name for f in SagaInstance._meta.fields]

    @admin.action(description="Retry the compensation of selected sagas")
    def retry(self, request: HttpRequest, queryset: QuerySet[SagaInstance]) -> None:
        self._act(request, queryset, sagas.retry, "retried")

    @admin.action(description="Mark selected sagas resolved by hand")
    def resolve(self, request: HttpRequest, queryset: QuerySet[SagaInstance]) -> None:
        note = f"by {request.user.get_username()} in the admin"
        self._act(request, queryset, lambda i: sagas.resolve(i, note=note), "resolved")

    def _act(self, request, queryset, action, verb: str) -> None:
        done = 0
        for instance_id in queryset.values_list("id", flat=True):
            try:
                action(instance_id)
                done += 1
            except sagas.SagaActionError as error:
                self.message_user(request, str(error), level=messages.ERROR)
        self.message_user(request, f"{verb.capitalize()} {done} sagas.")
