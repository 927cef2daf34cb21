"""OpenTelemetry on asyncio and trio: a span per consumed message, a span per HTTP request.

Spans go to an in-memory exporter; messages come from an outside nats-py client
or from an HTTP handler, against a real nats-server.
"""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from anystream.asgi import AsgiFastStream, AsgiResponse, Request, post
from anystream.observability import TracingMiddleware, make_liveness_asgi
from anystream.testing import lifespan
from tests.helpers import client, publish_from_outside, wait_until

from .helpers import hello_and_broken_app


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


def _processed(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans of handled messages (faststream names them ``<subject> process``)."""
    return [s for s in _spans(exporter, SpanKind.CONSUMER) if s.name.endswith(" process")]


def _named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


@pytest.mark.anyio
async def test_each_consumed_message_gets_a_consumer_span(
    nats_url: str, subject: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    broker = NatsBroker(nats_url, middlewares=[NatsTelemetryMiddleware(tracer_provider=provider)])
    seen: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(body)

    async with lifespan(AsgiFastStream(broker)):
        await publish_from_outside(nats_url, subject, b"a", b"b", b"c")
        await wait_until(lambda: len(_processed(exporter)) == 3)

    spans = _processed(exporter)
    assert {s.name for s in spans} == {f"{subject} process"}
    assert {s.attributes["messaging.destination_publish.name"] for s in spans} == {subject}
    assert {s.attributes["messaging.system"] for s in spans} == {"nats"}
    assert len({s.context.trace_id for s in spans}) == 3  # unrelated outside messages
    assert seen == ["a", "b", "c"]


def _http_app(provider: TracerProvider) -> TracingMiddleware:
    inner = hello_and_broken_app(("/health/live", make_liveness_asgi()))
    return TracingMiddleware(inner, provider, exclude=["/health/live"])


@pytest.mark.anyio
async def test_each_http_request_gets_a_server_span_named_by_route(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with client(_http_app(provider)) as http:
        await http.get("/hello", params={"q": "1"}, headers={"user-agent": "probe/1"})
        await http.get("/nowhere")
        await http.get("/broken")
        await http.get("/health/live")  # excluded

    hello, nowhere, broken = _spans(exporter, SpanKind.SERVER)
    assert hello.name == "GET /hello"
    assert hello.attributes is not None
    assert hello.attributes["http.route"] == "/hello"
    assert hello.attributes["http.response.status_code"] == 200
    assert hello.attributes["url.query"] == "q=1"
    assert hello.attributes["user_agent.original"] == "probe/1"
    assert hello.status.status_code is StatusCode.UNSET
    assert nowhere.name == "GET"  # no route: no raw path in the span name
    assert nowhere.attributes is not None
    assert nowhere.attributes["http.response.status_code"] == 404
    assert broken.name == "GET /broken"
    assert broken.status.status_code is StatusCode.ERROR
    assert len(exporter.get_finished_spans()) == 3


@pytest.mark.anyio
async def test_incoming_traceparent_continues_the_callers_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    async with client(_http_app(provider)) as http:
        await http.get("/hello", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    (span,) = _spans(exporter, SpanKind.SERVER)
    assert span.context.trace_id == int(trace_id, 16)
    assert span.parent is not None and span.parent.span_id == int(parent_id, 16)


@pytest.mark.anyio
async def test_message_published_by_a_request_is_consumed_in_the_same_trace(
    nats_url: str, subject: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    broker = NatsBroker(nats_url, middlewares=[NatsTelemetryMiddleware(tracer_provider=provider)])

    @broker.subscriber(subject)
    async def handle(body: str) -> None: ...

    @post
    async def publish(request: Request) -> AsgiResponse:
        await broker.publish(await request.body(), subject)
        return AsgiResponse(b"", 202)

    app = TracingMiddleware(AsgiFastStream(broker, asgi_routes=[("/publish", publish)]), provider)
    async with lifespan(app), client(app) as http:
        assert (await http.post("/publish", content=b"order")).status_code == 202
        await wait_until(lambda: len(_processed(exporter)) == 1)

    (server,) = _spans(exporter, SpanKind.SERVER)
    created = _named(exporter, f"{subject} create")
    sent = _named(exporter, f"{subject} publish")
    (processed,) = _processed(exporter)
    # HTTP request -> message created -> (sent, processed): one trace across NATS.
    assert {s.context.trace_id for s in (server, created, sent, processed)} == {
        server.context.trace_id
    }
    assert created.kind is SpanKind.PRODUCER
    assert created.parent is not None and created.parent.span_id == server.context.span_id
    assert sent.parent is not None and sent.parent.span_id == created.context.span_id
    assert processed.parent is not None and processed.parent.span_id == created.context.span_id
