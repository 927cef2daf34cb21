"""Observability on anystream: metrics, probes, traces and offline docs, on asyncio or trio.

Run it with any of::

    hypercorn --worker-class trio examples.observability:app
    uvicorn examples.observability:app

Routes:

- ``GET /metrics``        Prometheus: message counters and durations (faststream's
                          middleware) and HTTP request metrics (anystream's)
- ``GET /health/live``    liveness: the process and its event loop answer (no broker)
- ``GET /health/ready``   readiness: NATS answers a round trip and the subscribers run
- ``POST /orders``        publishes the body to ``orders.in`` (its trace goes along)
- ``GET /docs``           AsyncAPI docs; offline with ``ANYSTREAM_ASYNCAPI_ASSETS=<folder>``

Environment: ``NATS_URL`` (default ``nats://127.0.0.1:4222``); ``SPANS_FILE``: write
every finished span there as one JSON line (in production, configure an OTLP
exporter instead; see docs/observability.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from anystream.asgi import AsgiFastStream, AsgiResponse, Request, post
from anystream.observability import (
    HttpMetricsMiddleware,
    TracingMiddleware,
    make_liveness_asgi,
    make_metrics_asgi,
    make_readiness_asgi,
)

PROBES = ("/health/live", "/health/ready", "/metrics")


class JsonLinesExporter(SpanExporter):
    """Appends each finished span to a file as one JSON line (for the demo and its tests)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as out:
            for span in spans:
                out.write(json.dumps(json.loads(span.to_json())) + "\n")
        return SpanExportResult.SUCCESS


# One registry and one tracer provider for the broker and the HTTP side.
registry = CollectorRegistry()
tracer_provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
if spans_file := os.environ.get("SPANS_FILE"):
    tracer_provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(spans_file)))

broker = NatsBroker(
    os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
    middlewares=[
        NatsPrometheusMiddleware(registry=registry, app_name="orders"),
        NatsTelemetryMiddleware(tracer_provider=tracer_provider),
    ],
    max_reconnect_attempts=-1,  # ride out NATS outages; readiness reports them
    reconnect_time_wait=0.5,
)


@broker.subscriber("orders.in")
@broker.publisher("orders.out")
async def handle_order(order: str) -> str:
    return f"accepted {order}"


@post
async def place_order(request: Request) -> AsgiResponse:
    """Publish the request body as an order; the HTTP span is the message's parent."""
    await broker.publish(await request.body(), "orders.in")
    return AsgiResponse(b"", 202)


asgi_app = AsgiFastStream(
    broker,
    asgi_routes=[
        ("/metrics", make_metrics_asgi(registry)),
        ("/health/live", make_liveness_asgi()),
        ("/health/ready", make_readiness_asgi(broker, timeout=2.0)),
        ("/orders", place_order),
    ],
    asyncapi_path="/docs",
    shutdown_timeout=20.0,
)

# Outermost first: a span per request, then the request metrics, then the app.
app = TracingMiddleware(
    HttpMetricsMiddleware(asgi_app, registry, exclude=PROBES),
    tracer_provider,
    exclude=PROBES,
)
