"""Setting tracing up from the standard variables (``shop/telemetry.py``): off unless
an exporter is named, only the protocol that is installed, and no trace for a query
that runs under no span."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from shop.telemetry import NoLoneQueries, _exporters, exporter_names, tracing_wanted


@pytest.mark.parametrize(
    ("variables", "wanted"),
    [
        ({}, False),  # unset: off (OpenTelemetry's own default would be otlp)
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_an_exporter_is_named(monkeypatch, variables, wanted):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert tracing_wanted() is wanted


def test_only_otlp_over_http_protobuf_is_accepted(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,zipkin")
    assert exporter_names() == ["otlp", "zipkin"]
    with pytest.raises(ImproperlyConfigured, match="zipkin"):
        _exporters(exporter_names())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ImproperlyConfigured, match="http/protobuf"):
        _exporters(["otlp"])


def test_a_query_under_no_span_is_dropped_and_one_under_a_span_kept():
    sampler = NoLoneQueries(ALWAYS_ON)
    parent = trace.set_span_in_context(
        NonRecordingSpan(
            SpanContext(
                trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(1)
            )
        )
    )
    lone = sampler.should_sample(None, 7, "SELECT", SpanKind.CLIENT)
    under = sampler.should_sample(parent, 1, "SELECT", SpanKind.CLIENT)
    request = sampler.should_sample(None, 8, "POST /orders", SpanKind.SERVER)
    assert lone.decision is Decision.DROP
    assert under.decision is Decision.RECORD_AND_SAMPLE
    assert request.decision is Decision.RECORD_AND_SAMPLE
