"""The landing page at ``/``: what this server is and where its entry points are.

Without it the root, and the admin's "View site" link (``site_url``, "/"), answered
404. Links are reversed from the URL names, so they follow the routes."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "shop/home.html",
        {
            "docs": reverse("api-v1:openapi-view"),
            "schema": reverse("api-v1:openapi-json"),
            "admin": reverse("admin:index"),
            "live": reverse("health-live"),
            "ready": reverse("health-ready"),
            "metrics": reverse("metrics"),
        },
    )
