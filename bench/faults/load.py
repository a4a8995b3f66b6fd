"""The storefront client of the fault suite: places orders over HTTP as a careful
storefront does, one ``Idempotency-Key`` per order, retrying with the same key.

Each order is one call of ``Client.place``: POST ``/api/v1/orders`` until a final
answer (202 accepted, 409 out of stock, any other 4xx) or ``give_up`` seconds. A 5xx,
a 409 "in flight" (with ``Retry-After``) and a transport error are retried with the
same key after ``Retry-After`` (at most 2 s) or 0.5 s; each 5xx is counted. Orders
are placed open loop (``open_loop``): order ``i`` starts at ``start + i / rate``
whatever happened to the earlier ones, from a pool of threads, each with its own
keep-alive session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import requests

ADDRESS = {
    "name": "Fault Suite",
    "line1": "1 Main St",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


@dataclass
class Outcome:
    """What the client saw for one order (one key)."""

    key: str
    payment_method: str
    started: float  # monotonic
    order_ids: set[str] = field(default_factory=set)  # every id answered for the key
    status: int | None = None  # the final answer's status; None: gave up
    server_errors: list[tuple[float, int]] = field(default_factory=list)  # (t, status)
    transport_errors: int = 0
    attempts: int = 0
    finished: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status == 202

    @property
    def refused(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class Order:
    token: str
    items: list[dict[str, Any]]
    payment_method: str


class Client:
    def __init__(self, base_url: str, *, give_up: float = 240.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.give_up = give_up
        self._local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", **kw.pop("headers", {})}
        return self.session().request(
            method, f"{self.base_url}{path}", headers=headers, timeout=15, **kw
        )

    def register(self, email: str, password: str) -> str:
        """A new customer and a token of theirs."""
        body = {"email": email, "name": email.split("@")[0], "password": password}
        created = self.call("POST", "/api/v1/customers", json=body)
        if created.status_code != 201:
            raise RuntimeError(
                f"register {email}: {created.status_code} {created.text}"
            )
        token = self.call(
            "POST", "/api/v1/tokens", json={"email": email, "password": password}
        )
        if token.status_code != 201:
            raise RuntimeError(f"token {email}: {token.status_code} {token.text}")
        return str(token.json()["token"])

    def place(self, order: Order) -> Outcome:
        outcome = Outcome(
            key=uuid4().hex, payment_method=order.payment_method, started=_now()
        )
        body = {
            "items": order.items,
            "shipping_address": ADDRESS,
            "payment_method": order.payment_method,
        }
        headers = {
            "Authorization": f"Bearer {order.token}",
            "Idempotency-Key": outcome.key,
        }
        deadline = outcome.started + self.give_up
        while True:
            outcome.attempts += 1
            wait = 0.5
            try:
                response = self.call(
                    "POST", "/api/v1/orders", json=body, headers=headers
                )
            except requests.RequestException:
                outcome.transport_errors += 1
            else:
                status = response.status_code
                if status == 202:
                    outcome.order_ids.add(str(response.json()["order_id"]))
                    outcome.status = status
                    break
                if status >= 500:
                    outcome.server_errors.append((_now(), status))
                    wait = _retry_after(response, wait)
                elif status == 409 and "shortages" not in _json(response):
                    wait = _retry_after(response, wait)  # the first try is in flight
                else:
                    outcome.status = status  # out of stock (409), or a client error
                    break
            if _now() + wait > deadline:
                break
            time.sleep(wait)
        outcome.finished = _now()
        return outcome


def _now() -> float:
    return time.monotonic()


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return min(2.0, max(0.1, float(response.headers.get("Retry-After", default))))
    except ValueError:
        return default


def open_loop(
    client: Client,
    *,
    rate: float,
    seconds: float,
    order: Callable[[int], Order],
    threads: int = 24,
) -> list[Outcome]:
    """Place ``rate * seconds`` orders, order ``i`` due at ``start + i / rate``; wait
    for every one to be answered (or given up)."""
    count = max(1, round(rate * seconds))
    futures: list[Future[Outcome]] = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="buyer") as pool:
        start = _now()
        for number in range(count):
            delay = start + number / rate - _now()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(client.place, order(number)))
        return [future.result() for future in futures]


def all_at_once(client: Client, orders: list[Order]) -> list[Outcome]:
    """One thread per order, released together (a race for the same stock)."""
    barrier = threading.Barrier(len(orders))

    def one(order: Order) -> Outcome:
        barrier.wait(timeout=60)
        return client.place(order)

    with ThreadPoolExecutor(max_workers=len(orders), thread_name_prefix="race") as pool:
        return list(pool.map(one, orders))


class HealthSampler:
    """GET ``/health/consumers`` every ``every`` seconds while a round runs: does the
    shop's own health check see the fault (a queue without a worker, a broker that
    is down, a stalled subscription)?"""

    def __init__(self, client: Client, *, every: float = 2.0) -> None:
        self.client = client
        self.every = every
        self.samples: list[tuple[int, tuple[str, ...]]] = []  # (status, problems)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.client.call("GET", "/health/consumers")
                body = _json(response)
                problems = tuple(body.get("problems") or [str(body.get("status"))])
                self.samples.append((response.status_code, problems))
            except requests.RequestException:
                self.samples.append((0, ("no answer",)))
            self._stop.wait(self.every)

    def __enter__(self) -> HealthSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def summary(self) -> str:
        failing = [s for s in self.samples if s[0] != 200]
        seen = sorted({p for _, problems in failing for p in problems})
        return (
            f"/health/consumers: {len(failing)} of {len(self.samples)} samples not"
            f" 200{': ' + '; '.join(seen) if seen else ''}"
        )
