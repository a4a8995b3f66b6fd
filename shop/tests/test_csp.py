"""Every response carries the Content-Security-Policy (django-csp): pages, the API's
answers and errors, the health checks and the metrics, with no inline script or style
allowed anywhere. tests/browser/test_csp.py shows the admin and the API docs working
under it in Chromium."""

from __future__ import annotations

from django.test import Client

import pytest

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "manifest-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def policy_of(answer) -> dict[str, str]:
    header = answer.headers["Content-Security-Policy"]
    directives = (part.strip().split(" ", 1) for part in header.split(";"))
    return {name: value for name, value in directives}


@pytest.mark.parametrize(
    "path, status",
    [
        ("/admin/login/", 200),
        ("/admin/", 302),
        ("/api/v1/docs", 200),
        ("/api/v1/openapi.json", 200),
        ("/api/v1/products", 200),
        ("/api/v1/orders", 401),  # a problem+json answer
        ("/api/v1/no-such-thing", 404),
        ("/health/live", 200),
        ("/metrics", 200),
        ("/no-such-page", 404),
    ],
)
def test_every_response_carries_the_policy(path, status):
    answer = Client().get(path)
    assert answer.status_code == status
    assert policy_of(answer) == POLICY


def test_answers_the_api_guards_refuse_early_carry_it_too():
    # refused by ApiGuardMiddleware before any view (a body that is not JSON)
    answer = Client().post("/api/v1/tokens", data="x", content_type="text/plain")
    assert answer.status_code == 415
    assert policy_of(answer) == POLICY
