"""The alert rules and the dashboard, as files checked in CI.

``promtool`` validates the rules and runs their unit tests (input series -> an alert
fires or does not: deploy/prometheus/alerts_test.yml). Every metric the rules and the
dashboard query must be one the shop exposes: ``tests/flows/test_metrics_celery.py``
scrapes a running shop for that, with the names ``tests.support.monitoring`` reads out
of the files."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.monitoring import PROMETHEUS, queried_metrics

pytestmark = pytest.mark.static  # code and files only: run once, in the SQLite pass


def promtool(*args: str) -> str:
    done = subprocess.run(
        ["promtool", *args],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.promtool
def test_the_alert_rules_are_valid():
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", "alerts.yml")


@pytest.mark.promtool
def test_the_scrape_configuration_is_valid():
    # syntax only: the scraper's token file exists on the Prometheus host alone
    done = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert "SUCCESS" in done


@pytest.mark.promtool
def test_each_alert_fires_on_its_input_series_and_not_on_the_others():
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


@pytest.mark.promtool
def test_an_alert_test_that_expects_the_wrong_alert_fails(tmp_path):
    # given the rules' tests with one expectation turned wrong (a saga alert that
    # must not fire yet)
    tests = (PROMETHEUS / "alerts_test.yml").read_text()
    wrong = tests.replace(
        "      - eval_time: 0m\n        alertname: EventsSagaNeedsAttention\n"
        "        exp_alerts: []",
        "      - eval_time: 0m\n        alertname: EventsSagaNeedsAttention\n"
        "        exp_alerts: [{exp_labels: {severity: critical}}]",
    )
    assert wrong != tests
    (tmp_path / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    (tmp_path / "alerts_test.yml").write_text(wrong)
    # when promtool runs them, then it fails
    done = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "EventsSagaNeedsAttention" in done.stdout + done.stderr


def test_the_dashboard_and_the_rules_query_metrics_by_name():
    # a sanity check of the extraction the exposition test relies on
    queried = queried_metrics()
    assert {
        "events_messages_handled_total",
        "events_consumer_lag_seconds",
        "events_journey_seconds_bucket",
        "django_http_responses_total_by_status_total",
    } <= queried
    assert all(not name.endswith("_") for name in queried)
