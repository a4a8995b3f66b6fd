"""What the platform's admin pages share: read-only model admins, and pages of our
own drawn inside the admin's frame (its header, breadcrumbs and messages)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse


# ModelAdmin is generic in django-stubs only: ModelAdmin[Any] would fail at run time.
class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Staff read these rows; they change them only through the platform's actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def page(
        self,
        request: HttpRequest,
        template: str,
        *,
        title: str,
        **context: Any,
    ) -> TemplateResponse:
        """One of this model's own pages (not a changelist or a form)."""
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                **context,
            },
        )
