"""The fault suite's own logic: the client retries with the same key and counts what
it saw, and a round with a broken invariant fails the run (bench.faults)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.faults.__main__ import Result, redis_5xx
from bench.faults.load import Client, Order
from bench.faults.report import row


class Storefront(BaseHTTPRequestHandler):
    """Answers POST /api/v1/orders from a script: one (status, body) per request."""

    script: list[tuple[int, dict[str, object]]] = []
    keys: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).keys.append(self.headers["Idempotency-Key"])
        status, body = type(self).script.pop(0)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status in (409, 503):
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def storefront() -> Iterator[str]:
    Storefront.script, Storefront.keys = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Storefront)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


ORDER = Order(token="t", items=[{"sku": "A", "quantity": 1}], payment_method="pm")


def test_server_errors_are_retried_with_the_same_key_until_accepted(storefront):
    Storefront.script = [
        (500, {"title": "boom"}),
        (503, {"title": "database unavailable"}),
        (409, {"title": "in flight"}),
        (202, {"order_id": "o-1"}),
    ]
    outcome = Client(storefront).place(ORDER)
    assert outcome.accepted and outcome.order_ids == {"o-1"}
    assert [status for _, status in outcome.server_errors] == [500, 503]
    assert outcome.attempts == 4
    assert len(set(Storefront.keys)) == 1 and len(Storefront.keys) == 4


def test_out_of_stock_is_a_final_answer(storefront):
    Storefront.script = [(409, {"shortages": [{"sku": "A"}]})]
    outcome = Client(storefront).place(ORDER)
    assert outcome.refused and not outcome.accepted and outcome.attempts == 1


def test_a_client_that_never_gets_an_answer_gives_up(storefront):
    Storefront.script = [(500, {})] * 3
    outcome = Client(storefront, give_up=0.8).place(ORDER)
    assert outcome.status is None and len(outcome.server_errors) >= 1


def test_each_broken_invariant_fails_the_round():
    assert Result("r", "f").broken == []
    broken = Result("r", "f", lost=1, double_charges=2, settled=False)
    assert broken.broken == [
        "1 accepted orders lost",
        "2 double charges",
        "did not settle",
    ]
    assert Result("r", "f", unexplained=["payments x: boom"]).broken
    assert Result("r", "f", manual_steps=1).broken == ["1 manual steps"]


def test_the_table_row_shows_5xx_by_status_and_unexplained_letters():
    result = Result(
        "PostgreSQL",
        "kill -9",
        accepted=50,
        server_errors=Counter({500: 3, 503: 2}),
        unexplained=["x"],
        dead_letters=Counter({"mail down": 2}),
        settle_seconds=12.34,
    )
    cells = row(result)
    assert cells[1:3] == ["50", "5 (500: 3, 503: 2)"]
    assert cells[7:9] == ["12.3", "3 (1 unexplained)"]


def test_5xx_while_redis_was_down_are_those_between_its_kill_and_restart():
    class Seen:
        server_errors = [(100.5, 500), (110.0, 503), (125.0, 500)]

    events = ["10.0s kill -9 redis-server", "20.0s redis-server started (empty)"]
    assert redis_5xx([Seen()], 90.0, events) == 2
