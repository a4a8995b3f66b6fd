"""The landing page at ``/``: what this server is, and a working link to each of its
entry points (API docs and schema, admin, health checks, metrics); the admin's "View
site" link leads to it."""

from __future__ import annotations

from html.parser import HTMLParser

from django.contrib.auth import get_user_model
from django.test import Client

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


class Links(HTMLParser):
    """The ``href`` of every ``<a>`` in a page, with its text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            if self._href:
                self.found[self._href] = ""

    def handle_data(self, data: str) -> None:
        if self._href:
            self.found[self._href] += data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def links(html: str) -> dict[str, str]:
    parser = Links()
    parser.feed(html)
    return parser.found


def test_the_root_is_a_landing_page_linking_every_entry_point(live_server):
    # when a person opens the server's root
    page = requests.get(f"{live_server.url}/", timeout=30)
    # then it is a page that says what this is
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "event-driven shop" in page.text.lower()
    # and it links the API docs and schema, the admin, health and metrics
    found = links(page.text)
    assert {
        "/api/v1/docs",
        "/api/v1/openapi.json",
        "/admin/",
        "/health/live",
        "/health/ready",
        "/metrics",
    } <= found.keys(), found
    # each of which answers (the admin with its login page)
    for href in found:
        target = requests.get(f"{live_server.url}{href}", timeout=30)
        assert target.status_code == 200, (href, target.status_code)


def test_the_admins_view_site_link_leads_to_the_landing_page():
    # given a member of staff in the admin
    staff = get_user_model().objects.create_superuser("staff", "s@localhost", "pw")
    client = Client()
    client.force_login(staff)
    admin = client.get("/admin/")
    assert admin.status_code == 200
    # when they follow "View site"
    view_site = next(
        href for href, text in links(admin.text).items() if text == "View site"
    )
    page = client.get(view_site)
    # then they reach the landing page, not a 404
    assert page.status_code == 200
    assert "event-driven shop" in page.text.lower()
