"""Production settings refuse to start without their secrets, close /metrics and send
HSTS the preload list accepts (each run in a `manage.py` process of its own)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "shop.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://shop@127.0.0.1:5432/shop",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "shop.example.com",
    "EVENTS_METRICS_TOKEN": secrets.token_urlsafe(32),
}


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_each_missing_secret_stops_production_start_up():
    for missing in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
        "EVENTS_METRICS_TOKEN",
    ):
        env = {k: v for k, v in PRODUCTION.items() if k != missing}
        done = manage("check", env=env)
        assert done.returncode != 0, missing
        assert "ImproperlyConfigured" in done.stderr and missing in done.stderr


def test_a_short_secret_key_is_refused():
    done = manage("check", env={**PRODUCTION, "SECRET_KEY": "short"})
    assert done.returncode != 0 and "at least 50 random characters" in done.stderr


def test_complete_production_settings_pass_the_deploy_check():
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_production_refuses_to_start_with_a_short_metrics_token():
    done = manage("check", env={**PRODUCTION, "EVENTS_METRICS_TOKEN": "s3cret"})
    assert done.returncode != 0
    assert "EVENTS_METRICS_TOKEN must be set to at least 32" in done.stderr


PROBE = """
import json
from django.test import Client
client = Client(HTTP_HOST="shop.example.com")
answers = {}
for path, headers in json.loads(PATHS):
    answer = client.get(path, secure=True, headers=headers)
    answers[path + " " + json.dumps(headers)] = {
        "status": answer.status_code,
        "headers": dict(answer.headers),
    }
print(json.dumps(answers))
"""


def production_get(*requests: tuple[str, dict[str, str]], env=PRODUCTION) -> list[dict]:
    """GET paths through the production settings' whole middleware stack (Django's
    test client in a `manage.py shell` of its own): status and headers of each."""
    code = PROBE.replace("PATHS", repr(json.dumps(requests)))
    done = manage("shell", "-c", code, env=env)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]).values())


def test_production_metrics_answer_only_the_scrapers_token():
    token = PRODUCTION["EVENTS_METRICS_TOKEN"]
    anonymous, wrong = production_get(
        ("/metrics", {}), ("/metrics", {"Authorization": "Bearer not-the-token"})
    )
    assert anonymous["status"] == wrong["status"] == 401
    # (with the token the view reads the database, which this check has not got)
    assert token not in json.dumps([anonymous, wrong])


def test_hsts_preload_with_less_than_a_year_is_refused():
    done = manage("check", env={**PRODUCTION, "SECURE_HSTS_SECONDS": "3600"})
    assert done.returncode != 0
    assert "too short for HSTS preload" in done.stderr
    assert "SECURE_HSTS_PRELOAD=false" in done.stderr


def test_production_sends_hsts_the_preload_list_accepts():
    (health,) = production_get(("/health/live", {}))
    hsts = health["headers"]["Strict-Transport-Security"]
    directives = dict(
        part.strip().partition("=")[::2] for part in hsts.split(";") if part.strip()
    )
    assert int(directives["max-age"]) >= 31_536_000
    assert "includeSubDomains" in directives and "preload" in directives


def test_hsts_without_preload_may_be_shorter_and_passes_the_deploy_check():
    env = {**PRODUCTION, "SECURE_HSTS_SECONDS": "3600", "SECURE_HSTS_PRELOAD": "false"}
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (health,) = production_get(("/health/live", {}), env=env)
    hsts = health["headers"]["Strict-Transport-Security"]
    assert hsts == "max-age=3600; includeSubDomains"


def test_production_answers_carry_the_content_security_policy():
    # (pages with static files need collectstatic's manifest: the browser test and
    # shop/tests/test_csp.py cover those)
    answers = production_get(("/health/live", {}), ("/api/v1/nothing", {}))
    assert [answer["status"] for answer in answers] == [200, 404]
    for answer in answers:
        policy = answer["headers"]["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
