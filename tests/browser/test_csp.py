"""The Content-Security-Policy in a real browser: staff log in to the admin, open a
changelist and the API docs (ninja's bundled Swagger UI) in Chromium, and nothing is
blocked (no securitypolicyviolation event, no CSP console message, no page error)
while each page really renders. The admin login lockout is seen once here too."""

from __future__ import annotations

import pytest
import requests
from axes.models import AccessAttempt

from tests.browser.support import STAFF_PASSWORD, STAFF_USERNAME, log_in_to_admin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_watch_reports_what_the_policy_blocks(browser_page):
    # given a page served under the policy, clean
    browser_page.goto("/admin/login/")
    browser_page.watch.assert_clean()
    # when something on it adds an inline script
    browser_page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "document.title = 'injected'";
            document.head.appendChild(script);
        }"""
    )
    # then the browser refuses to run it, and the watch hears of it
    browser_page.wait_for_function("window.__shopViolations.length > 0")
    assert browser_page.title() != "injected"
    assert any("script-src" in seen for seen in browser_page.watch.violations)
    with pytest.raises(AssertionError, match="CSP violations"):
        browser_page.watch.assert_clean()


def test_staff_use_the_admin_and_the_api_docs_under_the_policy(staff_page, live_server):
    # given staff logged in through the login form (staff_page), under the policy
    # when they open a changelist
    answer = staff_page.goto("/admin/auth/user/")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    # then it renders: the list with the staff user, and the admin's scripts ran
    staff_page.wait_for_selector("#result_list")
    assert STAFF_USERNAME in staff_page.inner_text("#result_list")
    staff_page.check("#action-toggle")  # actions.js selects every row
    staff_page.wait_for_selector(".action-counter:has-text('1 of 1 selected')")
    # when they open the API docs
    answer = staff_page.goto("/api/v1/docs")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    # then Swagger UI lists every operation of the schema
    schema = requests.get(f"{live_server.url}/api/v1/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        for method in methods
    ]
    staff_page.wait_for_selector(".opblock")
    staff_page.wait_for_function(
        f"document.querySelectorAll('.opblock').length === {len(operations)}"
    )
    listed = staff_page.locator(".opblock-summary-path").all_inner_texts()
    assert sorted(path.replace("\u200b", "") for path in listed) == sorted(
        path for _, path in operations
    )
    # and they can try one out: Swagger UI calls the API (connect-src) and shows it
    operation = "#operations-products-list_products"
    staff_page.click(f"{operation} .opblock-summary")
    staff_page.click(f"{operation} .try-out__btn")
    staff_page.click(f"{operation} .execute")
    answered = f"{operation} .live-responses-table tbody .response-col_status"
    staff_page.wait_for_selector(answered)
    assert staff_page.inner_text(answered).strip() == "200"
    # and the browser blocked nothing on any of these pages
    staff_page.watch.assert_clean()


def test_a_locked_out_admin_login_shows_the_lockout_page(
    browser_page, staff_user, settings
):
    # given as many wrong passwords as allowed
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in_to_admin(browser_page, username=STAFF_USERNAME, password=f"wrong {n}")
    # when the right one follows
    answer = log_in_to_admin(
        browser_page, username=STAFF_USERNAME, password=STAFF_PASSWORD
    )
    # then the login is refused with the lockout page
    assert answer.status == 429
    assert "Too many failed logins" in browser_page.inner_text("#content")
    failures = AccessAttempt.objects.get().failures_since_start
    assert failures == settings.AXES_FAILURE_LIMIT + 1
    browser_page.watch.assert_clean(expected_statuses={429})
