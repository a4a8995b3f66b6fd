"""URL routes: a landing page (/), the storefront API (/api/v1, docs at /api/v1/docs),
the health checks for load balancers, Prometheus metrics (/metrics), and the admin for
staff (with the platform's Event catalog at /admin/events/catalog/, before the admin's
catch-all)."""

from django.contrib import admin
from django.urls import include, path

from events import metrics_view
from shop.api import health
from shop.api.assembly import api
from shop.views import home

urlpatterns = [
    path("", home, name="home"),
    path("api/v1/", api.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/consumers", health.consumers, name="health-consumers"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/events/catalog/", include("events.schemas.urls")),
    path("admin/", admin.site.urls),
]
