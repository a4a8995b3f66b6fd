"""Browser tests: playwright driving Debian's Chromium against ``live_server``.

A pytest plugin (the root conftest loads it), so any test in the suite can ask for:

- ``chromium``: a headless Chromium for the test module (``/usr/bin/chromium``, or
  ``SHOP_CHROMIUM``; playwright's own browser download is never used).
- ``browser_page``: a fresh browser context and page for one test, its ``base_url`` the
  live server, watching for Content-Security-Policy violations and page errors
  (``page.watch``); a screenshot goes to ``var/screenshots/`` when the test fails.
- ``staff_page``: the same page, logged in to the admin as a superuser through the
  login form (``STAFF_USERNAME`` / ``STAFF_PASSWORD``).

Mark such tests ``browser``: without Chromium they skip, and fail under
``SHOP_REQUIRE_SERVICES=1`` (CI installs it: ``.ci/run``).

Playwright's sync API keeps an asyncio loop registered as running on the main thread
while it is started, and Django then refuses ORM calls there (SynchronousOnlyOperation)
although nothing runs concurrently: the loop only turns while the test waits for a
playwright call. So the ``chromium`` fixture sets ``DJANGO_ALLOW_ASYNC_UNSAFE`` for the
module it serves, and only for it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

import pytest

from tests.support.services import unavailable

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
STAFF_USERNAME = "staff"
STAFF_PASSWORD = "staff-password-for-the-browser"
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

# Reported to the test through an exposed binding, which survives navigations (a page
# variable would not) and is injected by the browser, not subject to the page's CSP;
# kept in the page too (window.__shopViolations), for wait_for_function.
WATCH_SCRIPT = """
window.__shopViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__shopViolations.push(event.violatedDirective);
  window.__shopReportViolation({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    page: document.location.href,
  });
});
"""


def chromium_missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (requirements-dev.txt)"
    if shutil.which(CHROMIUM) is None:
        return f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


def require_chromium() -> None:
    """Skip without Chromium; fail instead under SHOP_REQUIRE_SERVICES=1."""
    reason = chromium_missing()
    if reason is None:
        return
    unavailable(reason)


@dataclass
class PageWatch:
    """What the browser reported while a test ran: CSP violations (from the
    securitypolicyviolation event and from console messages), page errors (console
    errors, uncaught exceptions) and answers of status 400 or more."""

    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def on_violation(self, source: Any, report: dict[str, Any]) -> None:
        where = f"{report['page']} ({report['source']}:{report['line']})"
        self.violations.append(
            f"{report['directive']} blocked {report['blocked']!r} on {where} "
            f"{report['sample']!r}"
        )

    def on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"console: {message.text}")
        elif message.text.startswith("Failed to load resource: the server responded"):
            pass  # an answer's status, kept with its URL by on_response
        elif message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"page error: {error}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append((response.status, response.url))

    def assert_clean(self, *, expected_statuses: Collection[int] = ()) -> None:
        """Nothing blocked, no error, no failed answer but of ``expected_statuses``."""
        assert not self.violations, "CSP violations:\n" + "\n".join(self.violations)
        assert not self.errors, "browser errors:\n" + "\n".join(self.errors)
        failed = [(s, url) for s, url in self.failed if s not in expected_statuses]
        assert not failed, f"failed answers: {failed}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
            )
            yield browser
            browser.close()


@pytest.fixture
def browser_page(
    chromium: Any, live_server: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A page of its own context (no cookies shared between tests); ``page.watch`` is
    its PageWatch. Paths in ``page.goto("/admin/")`` are relative to the live server."""
    context = chromium.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    watch = PageWatch()
    context.expose_binding("__shopReportViolation", watch.on_violation)
    context.add_init_script(WATCH_SCRIPT)
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    page.on("response", watch.on_response)
    page.watch = watch
    try:
        yield page
    finally:
        reports = request.node.stash.get(REPORTS, {})
        if any(report.failed for report in reports.values()):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def staff_user(transactional_db: None) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(
        STAFF_USERNAME, f"{STAFF_USERNAME}@example.com", STAFF_PASSWORD
    )


def log_in_to_admin(page: Any, *, username: str, password: str) -> Any:
    """Fill in and send the admin login form; the response of the form post."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation() as sent:
        page.click("input[type=submit]")
    return sent.value


@pytest.fixture
def staff_page(browser_page: Any, staff_user: Any) -> Any:
    """``browser_page`` logged in to the admin, on its index page."""
    log_in_to_admin(browser_page, username=STAFF_USERNAME, password=STAFF_PASSWORD)
    browser_page.wait_for_url("**/admin/")
    browser_page.wait_for_selector("#user-tools")
    return browser_page
