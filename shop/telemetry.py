"""Tracing's SDK: set up once per process from the standard ``OTEL_*`` variables.

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``: OTLP over HTTP with
protobuf, the one installed; ``console``: spans printed, for a look) and
``OTEL_SDK_DISABLED`` is not true. OpenTelemetry's own default exporter is ``otlp``;
ours is none, so that neither ``make run`` nor a production process without a
collector sends spans nowhere. The exporter reads its own variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
``..._HEADERS``, ...), the resource ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``, the sampler ``OTEL_TRACES_SAMPLER`` and
``OTEL_TRACES_SAMPLER_ARG``, the batch processor ``OTEL_BSP_*``
(docs/observability.md).

Django's requests, Celery's tasks and psycopg's queries are instrumented by
OpenTelemetry's packages; messages across the log by ``events.telemetry.tracing``,
which needs nothing here but a tracer provider. A query that runs under no span
(a drain's reads and checkpoint, the listener, the sweep) would be a trace of its
own, a flood of one-span traces from idle workers: the sampler drops them
(:class:`NoLoneQueries`), and samples everything else as ``OTEL_TRACES_SAMPLER``
says.

Who calls :func:`start_tracing`: ``shop/wsgi.py`` before the WSGI application loads
its middleware (gunicorn, runserver), and ``shop/celery.py`` in each worker process
(a prefork pool's children after the fork: no exporter thread survives one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,  # the SDK's reading of OTEL_TRACES_SAMPLER
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_started_in: int | None = None  # the pid that set tracing up


def exporter_names() -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (none when tracing is off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
    return [n.strip().lower() for n in names if n.strip().lower() not in ("", "none")]


def tracing_wanted() -> bool:
    return bool(exporter_names())


def start_tracing() -> bool:
    """Install the SDK's tracer provider and the instrumentations in this process,
    once, if ``OTEL_TRACES_EXPORTER`` asks for it; returns whether tracing is on."""
    global _started_in
    if _started_in == os.getpid():
        return True
    names = exporter_names()
    if not names:
        return False
    provider = TracerProvider(
        sampler=NoLoneQueries(_get_from_env_or_default()), resource=Resource.create()
    )
    for exporter in _exporters(names):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument()
    _started_in = os.getpid()
    return True


def _exporters(names: Sequence[str]) -> list[SpanExporter]:
    chosen: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            if protocol != "http/protobuf":
                raise ImproperlyConfigured(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is "
                    "installed (opentelemetry-exporter-otlp-proto-http)"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )

            chosen.append(OTLPSpanExporter())
        elif name == "console":
            chosen.append(ConsoleSpanExporter())
        else:
            raise ImproperlyConfigured(
                f"OTEL_TRACES_EXPORTER={name}: use otlp, console or none"
            )
    return chosen


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument()


class NoLoneQueries(Sampler):
    """Drops a client span (a query) that has no parent; asks ``sampler`` about
    everything else."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneQueries{{{self.sampler.get_description()}}}"
