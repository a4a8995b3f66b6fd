"""The page a locked-out admin login gets (django-axes' ``AXES_LOCKOUT_CALLABLE``).

django-axes refuses logins from a client address after ``AXES_FAILURE_LIMIT`` failures
(settings: "Staff logins"). Its own answer is one bare sentence; this one is the admin's
look, says why, for how long and what to do, and answers 429 with ``Retry-After`` so
scripts and proxies understand it too.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

LOCKED_OUT = 429


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    cooloff = settings.AXES_COOLOFF_TIME
    minutes = math.ceil(cooloff.total_seconds() / 60)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
    }
    response = TemplateResponse(
        request, "shop/admin_lockout.html", context, status=LOCKED_OUT
    )
    response["Retry-After"] = str(math.ceil(cooloff.total_seconds()))
    return response.render()
