"""Without Chromium, browser tests skip, and fail under SHOP_REQUIRE_SERVICES=1 (so CI
cannot pass by skipping them)."""

from __future__ import annotations

import pytest

from tests.browser import support


@pytest.fixture
def no_chromium(monkeypatch):
    monkeypatch.setattr(support, "CHROMIUM", "/nonexistent/chromium")


def test_without_chromium_browser_tests_skip(no_chromium, monkeypatch):
    monkeypatch.delenv("SHOP_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs Chromium"):
        support.require_chromium()


def test_without_chromium_required_services_fail(no_chromium, monkeypatch):
    monkeypatch.setenv("SHOP_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="must be there"):
        support.require_chromium()
