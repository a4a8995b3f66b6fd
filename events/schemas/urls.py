"""Routes of the Event catalog, to include under the admin's prefix before the admin's
own URLs (``path("admin/events/catalog/", include("events.schemas.urls"))``): every
view requires an active staff user, as the admin does."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", admin.site.admin_view(views.catalog_index), name="events-catalog"),
    path(
        "<str:name>/",
        admin.site.admin_view(views.catalog_message),
        name="events-catalog-message",
    ),
]
