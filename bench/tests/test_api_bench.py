"""The API bench's own checks: the load generator counts every answer it gets (a
failure is never hidden in a rate), and the report refuses figures that a failed
answer or a disagreement with the log would make dishonest. Run with ``pytest
bench/tests``; the bench itself is ``make bench-api``."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from bench import apiload, apireport
from bench.apiserver import free_port


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        return None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@pytest.fixture
def server() -> Iterator[int]:
    """/ok answers 200; /flaky answers 202, 202, then 429, over and over."""
    flaky = itertools.cycle(("202 Accepted", "202 Accepted", "429 Too Many Requests"))
    lock = threading.Lock()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/flaky":
            with lock:
                status = next(flaky)
        else:
            status = "200 OK"
        start_response(status, [("Content-Type", "text/plain")])
        return [status.encode()]

    httpd = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def phase(port: int, path: str, expected: int) -> apiload.Phase:
    return apiload.run_phase(
        name=path,
        host="127.0.0.1",
        port=port,
        headers={},
        factory=lambda user: ("GET", path, None, {}),
        users=3,
        seconds=0.3,
        warmup=0.1,
        expected_status=expected,
    )


def test_every_answer_is_counted_by_status_and_only_expected_ones_are_timed(server):
    # when users hit an endpoint that answers 429 one time in three
    measured = phase(server, "/flaky", 202)
    # then the 429s are reported, not folded into the rate or the latencies
    assert measured.statuses[429] > 0 and measured.statuses[202] > 0
    assert measured.unexpected == measured.statuses[429]
    assert len(measured.latencies) == measured.accepted == measured.statuses[202]
    assert measured.all_expected >= measured.accepted  # warm-up answers included
    assert measured.as_dict()["unexpected_samples"][0].startswith("429")


def test_a_refused_connection_is_an_error_not_a_missing_request():
    # given a port nothing listens on
    port = free_port()
    # when a phase runs against it
    measured = phase(port, "/ok", 200)
    # then the failures are counted as errors
    assert measured.accepted == 0 and sum(measured.errors.values()) > 0


def results_of(health: apiload.Phase, orders: apiload.Phase, placed: int) -> dict:
    return {
        "meta": {
            "server": "gunicorn shop.wsgi",
            "settings": "shop.settings.production",
            "database": "local/shop_bench_api",
            "postgres": {"server_version": "15", "synchronous_commit": "on"},
            "redis": "redis://127.0.0.1:6379/14",
            "cpus": 2,
            "python": "3.11",
            "ran": "gunicorn only",
            "users": 3,
            "seconds": 0.3,
            "warmup": 0.1,
            "client_cpu_share": 0.1,
            "products": 1,
            "seed_messages": 1,
            "load_before": (0.1, 0.1, 0.1),
            "load_after": (0.1, 0.1, 0.1),
            "elapsed_seconds": 1.0,
        },
        "phases": {
            "health": health.as_dict(),
            "orders": orders.as_dict(),
            "health_after": health.as_dict(),
        },
        "health": apireport.combine(health, health),
        "check": {"answered_202": orders.all_expected, "orders_placed_in_log": placed},
        "target_ratio_p50": 3.0,
    }


def test_the_report_fails_a_run_with_unexpected_answers_or_a_log_mismatch(server):
    # given a clean health phase and an orders phase with 429s
    health = phase(server, "/ok", 200)
    orders = phase(server, "/flaky", 202)
    clean = apiload.Phase(name="orders", expected_status=202, users=3, seconds=0.3)
    clean.statuses[202], clean.latencies, clean.all_expected = 2, [0.01, 0.02], 2
    # then unexpected answers fail the run, and so does a log that disagrees
    assert not apireport.honest(results_of(health, orders, orders.all_expected))
    assert not apireport.honest(results_of(health, clean, placed=1))
    assert apireport.honest(results_of(health, clean, placed=2))
    text = apireport.render(results_of(health, orders, orders.all_expected))
    assert "FAILED" in text and "429" in text
    assert "place-order p50 / health p50" in text
