"""A small closed-loop HTTP load generator for the API bench (``bench/api/run.py``).

Each virtual user is a thread with one keep-alive connection (``http.client``) that
sends its next request as soon as the previous answer is read: a closed loop, like a
fixed number of busy clients. Every request is timed from just before it is written
to just after its body is read (``time.perf_counter``), and every answer is counted by
status, so a figure never hides a failure: responses that are not the expected
status, and transport errors, are reported beside the rates and latencies.

Why not locust: on this 2-core machine the load generator shares the CPU with the
server, and locust's gevent runtime and web UI add dependencies and CPU for nothing
the bench needs; threads blocked on sockets release the GIL, and the client's own
CPU time is measured and printed, so its share of the machine is visible.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common.report import percentile

# (method, path, body bytes or None, extra headers)
Request = tuple[str, str, bytes | None, dict[str, str]]
# Builds user ``user``'s next request; it runs in that user's thread.
RequestFactory = Callable[[int], Request]
TIMEOUT_SECONDS = 30.0


@dataclass
class Phase:
    """What one phase measured: per-status counts and the expected answers' times."""

    name: str
    expected_status: int
    users: int
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, expected only
    unexpected_samples: list[str] = field(default_factory=list)
    # Every answer with the expected status, counted or not (warm-up, or finished
    # after the end): what the server did, for the bench's check against the log.
    all_expected: int = 0

    @property
    def accepted(self) -> int:
        return self.statuses[self.expected_status]

    @property
    def unexpected(self) -> int:
        return sum(self.statuses.values()) - self.accepted + sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        figures: dict[str, Any] = {
            "name": self.name,
            "users": self.users,
            "seconds": self.seconds,
            "expected_status": self.expected_status,
            "accepted": self.accepted,
            "per_second": self.accepted / self.seconds if self.seconds else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "unexpected": self.unexpected,
            "unexpected_samples": self.unexpected_samples,
            "all_expected": self.all_expected,
        }
        if ordered:
            for name, p in (("p50", 50), ("p95", 95), ("p99", 99)):
                figures[f"{name}_ms"] = percentile(ordered, p) * 1000
            figures["max_ms"] = ordered[-1] * 1000
            figures["mean_ms"] = sum(ordered) / len(ordered) * 1000
        return figures


class Client:
    """One virtual user's keep-alive connection; reconnects when the server closes."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port, self.headers = host, port, headers
        self.conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> tuple[int, bytes]:
        method, path, body, extra = request
        headers = {**self.headers, **extra}
        while True:
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=TIMEOUT_SECONDS
                )
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # A reused connection may have been closed by the server's keep-alive
                # timeout just before this request: send it again, once, on a new
                # connection (same headers, so the same Idempotency-Key). A failure on
                # a fresh connection is a real error.
                self.close()
                if not reused:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_phase(
    *,
    name: str,
    host: str,
    port: int,
    headers: dict[str, str],
    factory: RequestFactory,
    users: int,
    seconds: float,
    warmup: float,
    expected_status: int,
) -> Phase:
    """Run ``users`` closed-loop users for ``warmup + seconds``; only requests that
    start after the warm-up and finish before the end are counted (a request in
    flight at the end is finished, not counted)."""
    phase = Phase(name=name, expected_status=expected_status, users=users)
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    def user(number: int) -> None:
        client = Client(host, port, headers)
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        latencies: list[float] = []
        samples: list[str] = []
        answered = 0
        try:
            while True:
                request = factory(number)
                began = time.perf_counter()
                if began >= stop_at:
                    break
                try:
                    status, body = client.send(request)
                except (OSError, http.client.HTTPException) as error:
                    status, body = 0, repr(error).encode()
                ended = time.perf_counter()
                answered += status == expected_status
                if began < measure_from or ended > stop_at:
                    continue
                if status == 0:
                    errors[type_name(body)] += 1
                else:
                    statuses[status] += 1
                if status == expected_status:
                    latencies.append(ended - began)
                elif len(samples) < 3:
                    samples.append(f"{status} {body[:300].decode(errors='replace')}")
        finally:
            client.close()
            with lock:
                phase.all_expected += answered
                phase.statuses.update(statuses)
                phase.errors.update(errors)
                phase.latencies.extend(latencies)
                room = 5 - len(phase.unexpected_samples)
                phase.unexpected_samples.extend(samples[: max(room, 0)])

    threads = [
        threading.Thread(target=user, args=(n,), name=f"{name}-{n}", daemon=True)
        for n in range(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = seconds
    return phase


def type_name(body: bytes) -> str:
    """The exception's class name from its repr (``ConnectionResetError(...)``)."""
    return body.split(b"(", 1)[0].decode(errors="replace") or "error"
