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

from bench.api import load as apiload
from bench.api import report as apireport
from bench.api.server import free_port


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


def results_of(
    health: apiload.Phase,
    orders: apiload.Phase,
    placed: int,
    write: apiload.Phase | None = None,
    rows: int | None = None,
) -> dict:
    write = write or clean_phase("write", 201, answered=2)
    rows = write.all_expected if rows is None else rows
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
            "write": write.as_dict(),
            "orders": orders.as_dict(),
            "write_after": write.as_dict(),
            "health_after": health.as_dict(),
        },
        "health": apireport.combine(health, health),
        "write": apireport.combine(write, write),
        "check": {
            "answered_202": orders.all_expected,
            "orders_placed_in_log": placed,
            "answered_201": write.all_expected * 2,
            "rows_written": rows * 2,
        },
        "target_ratio_p50": 3.0,
    }


def clean_phase(name: str, status: int, *, answered: int) -> apiload.Phase:
    """A phase whose every answer was the expected one (10 ms, 20 ms, ...)."""
    measured = apiload.Phase(name=name, expected_status=status, users=3, seconds=0.3)
    measured.statuses[status] = measured.all_expected = answered
    measured.latencies = [0.01 * (n + 1) for n in range(answered)]
    return measured


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


def test_the_report_fails_a_run_whose_minimal_writes_disagree_with_their_rows():
    # given clean phases, but one 201 of the minimal write has no row in bench_row
    health = clean_phase("health", 200, answered=2)
    orders = clean_phase("orders", 202, answered=2)
    write = clean_phase("write", 201, answered=2)
    # then the run fails, and says so
    assert apireport.honest(results_of(health, orders, 2, write, rows=2))
    results = results_of(health, orders, 2, write, rows=1)
    assert not apireport.honest(results)
    assert "rows in bench_row: DISAGREE" in apireport.render(results)


def test_orders_are_a_ratio_to_the_minimal_write_and_to_the_health_check():
    # given orders at a p50 of 30 ms, the minimal write at 10 ms, health at 5 ms
    health = apiload.Phase(name="health", expected_status=200, users=1, seconds=1)
    health.statuses[200] = health.all_expected = 1
    health.latencies = [0.005]
    orders = apiload.Phase(name="orders", expected_status=202, users=1, seconds=1)
    orders.statuses[202] = orders.all_expected = 1
    orders.latencies = [0.030]
    write = apiload.Phase(name="write", expected_status=201, users=1, seconds=1)
    write.statuses[201] = write.all_expected = 1
    write.latencies = [0.010]
    results = results_of(health, orders, 1, write)
    # then the target applies to the write's ratio; the health ratio stands beside it
    assert apireport.ratio(results, "write") == pytest.approx(3.0)
    assert apireport.ratio(results, "health") == pytest.approx(6.0)
    text = apireport.render(results)
    assert "place-order p50 / minimal-write p50: 3.00x  (target <= 3x: met)" in text
    assert "place-order p50 / health p50: 6.00x" in text


def test_the_minimal_write_is_never_in_the_shops_urls():
    # only bench.api.urls (bench.api.settings) routes it; every bench run checks that
    # each 201 it counted left its row
    from django.urls import Resolver404, resolve

    from bench.api import run as api

    with pytest.raises(Resolver404):
        resolve(api.WRITE_PATH, urlconf="shop.urls")
