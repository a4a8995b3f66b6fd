"""A small OTLP/HTTP receiver in the test process: what subprocesses export reaches
a test.

Processes started with ``OTEL_TRACES_EXPORTER=otlp`` and
``OTEL_EXPORTER_OTLP_ENDPOINT=<receiver.url>`` POST their spans to ``/v1/traces`` as
protobuf (``ExportTraceServiceRequest``); the receiver decodes them with
opentelemetry-proto and keeps them in memory, by trace. It listens on a port of the
loopback chosen by the system, on a thread of its own, until closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    name: str
    kind: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id)
    error: bool
    start_ns: int


@dataclass
class SpanReceiver:
    spans: list[ReceivedSpan] = field(default_factory=list)
    url: str = ""
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def receive(self, request: ExportTraceServiceRequest) -> None:
        received = [
            _span(service_name(resource.resource.attributes), span)
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        with self._changed:
            self.spans.extend(received)
            self._changed.notify_all()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._changed:
            return [s for s in self.spans if s.trace_id == trace_id]

    def find(self, predicate: Callable[[ReceivedSpan], bool]) -> list[ReceivedSpan]:
        with self._changed:
            return [s for s in self.spans if predicate(s)]

    def wait_for(
        self, predicate: Callable[[], bool], what: str, *, timeout: float
    ) -> None:
        """Wait until ``predicate()`` holds, looking again at each export."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {what} within {timeout}s; {len(self.spans)} spans received"
                    )
                self._changed.wait(min(remaining, 0.5))


def service_name(attributes: Any) -> str:
    for attribute in attributes:
        if attribute.key == "service.name":
            return attribute.value.string_value
    return ""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(attributes: list[KeyValue]) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in attributes}


def _span(service: str, span: Span) -> ReceivedSpan:
    return ReceivedSpan(
        service=service,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        name=span.name,
        kind=KINDS.get(span.kind, "unspecified"),
        attributes=_attributes(span.attributes),
        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
        error=span.status.code == span.status.STATUS_CODE_ERROR,
        start_ns=span.start_time_unix_nano,
    )


@contextmanager
def span_receiver() -> Iterator[SpanReceiver]:
    """A receiver listening on 127.0.0.1 until the block ends."""
    receiver = SpanReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            receiver.receive(ExportTraceServiceRequest.FromString(body))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output is the spans, not the exports' requests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
