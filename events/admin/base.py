"""What the platform's admin pages share: read-only model admins, pages of our own
drawn inside the admin's frame (its header, breadcrumbs and messages), and the link a
list draws for a message key."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..ops.links import KeyLink


def key_anchor(link: KeyLink) -> SafeString | None:
    """The key as a link to the admin page of what it names ("order 1a2b3c4d…", the
    whole key in its title), or None when no page is registered for it."""
    if not link.url:
        return None
    return format_html(
        '<a href="{}" title="{} {}">{} {}</a>',
        link.url,
        link.label,
        link.key,
        link.label,
        link.short,
    )


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
