"""OpenTelemetry set-up and trace-context propagation through events.

The W3C `traceparent` of the span that caused an event travels in the event's
metadata (a CloudEvents extension), through the store, the relay and the bus, so a
consumer's process span joins the trace of the webhook request that started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import default_setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_instrumented = False


def tracer() -> trace.Tracer:
    return trace.get_tracer("cityhall")


def configure(service_name: str, *, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install a tracer provider once per process; add an exporter to it.

    With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/HTTP. Tests pass an
    in-memory exporter. asyncpg and aiokafka are instrumented too. With neither, tracing
    stays off (no traceparent on events; correlation ids still link them).
    """
    global _instrumented
    provider = trace.get_tracer_provider()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not isinstance(provider, TracerProvider) and not endpoint and exporter is None:
        # Nowhere to send spans: keep the no-op provider, whose spans cost next to nothing.
        return None
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
        if endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if not _instrumented:
        from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument()
        AIOKafkaInstrumentor().instrument()
        _instrumented = True
    return provider


def current_traceparent() -> str | None:
    """The W3C traceparent of the span running now, if any."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, setter=default_setter)
    return carrier.get("traceparent")


@contextmanager
def span_from(traceparent: str | None, name: str, kind: SpanKind = SpanKind.CONSUMER) -> Iterator[Span]:
    """A span whose parent is the remote span named by `traceparent` (a new trace without one)."""
    ctx = _propagator.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    token = otel_context.attach(ctx)
    try:
        with tracer().start_as_current_span(name, kind=kind) as span:
            yield span
    finally:
        otel_context.detach(token)
