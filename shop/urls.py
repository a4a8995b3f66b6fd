"""URL routes: the storefront API (/api/v1, docs at /api/v1/docs), the health checks
for load balancers, Prometheus metrics (/metrics), and the admin for staff."""

from django.contrib import admin
from django.urls import path

from events.views import metrics
from shop.api import health
from shop.api.assembly import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
