"""The API bench's floor: a minimal authenticated write, ``POST /api/bench/write``.

What any authenticated write through this server must pay, and nothing of placing an
order: the same middleware as every request under ``/api/``, the API's bearer-token
lookup (``shop.api.auth.BearerToken``, one query), the JSON body read, one row
inserted in a transaction of its own (``transaction.atomic(durable=True)``, as the
platform opens them: BEGIN, INSERT, COMMIT with its WAL flush), and a small JSON
answer. ``POST /api/v1/orders`` is printed as a ratio to it. Bench-only: reachable
through ``bench.api.urls`` alone, never through ``shop.urls``.
"""

from __future__ import annotations

import json
from uuid import uuid4

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.app.models import Row
from shop.api.auth import BearerToken

_bearer = BearerToken()


@csrf_exempt  # a bearer token, no cookie: as the API's own operations
@require_POST
def minimal_write(request: HttpRequest) -> HttpResponse:
    """201 with the new row's id; 401 without a live token; 400 without a
    ``{"value": <int>}`` body."""
    customer_id = _bearer(request)
    if customer_id is None:
        return JsonResponse({"detail": "a live bearer token is needed"}, status=401)
    try:
        value = json.loads(request.body)["value"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": 'the body is {"value": <int>}'}, status=400)
    if not isinstance(value, int) or isinstance(value, bool):
        return JsonResponse({"detail": "value must be an integer"}, status=400)
    with transaction.atomic(durable=True):
        row = Row.objects.create(message_id=uuid4(), key=str(customer_id), value=value)
    return JsonResponse({"id": row.pk}, status=201)
