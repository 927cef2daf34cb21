"""Prometheus metrics on asyncio and trio: messages (faststream's middleware) and HTTP."""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from prometheus_client import CollectorRegistry

from anystream.asgi import AsgiFastStream
from anystream.observability import HttpMetricsMiddleware, make_metrics_asgi
from anystream.testing import lifespan
from tests.helpers import client, publish_from_outside

from .helpers import hello_and_broken_app, metric, poll


@pytest.mark.anyio
async def test_message_counters_rise_as_outside_publishes_are_consumed(
    nats_url: str, subject: str
) -> None:
    registry = CollectorRegistry()
    broker = NatsBroker(nats_url, middlewares=[NatsPrometheusMiddleware(registry=registry)])

    @broker.subscriber(subject)
    async def handle(body: str) -> None: ...

    app = AsgiFastStream(broker, asgi_routes=[("/metrics", make_metrics_asgi(registry))])
    labels = {"handler": subject, "broker": "nats"}
    async with lifespan(app), client(app) as http:
        assert await metric(http, "faststream_received_messages_total", **labels) is None
        await publish_from_outside(nats_url, subject, *[b"m%d" % i for i in range(5)])

        async def all_processed() -> bool:
            done = await metric(
                http, "faststream_received_processed_messages_total", status="acked", **labels
            )
            return done == 5

        await poll(all_processed)
        assert await metric(http, "faststream_received_messages_total", **labels) == 5
        assert await metric(
            http, "faststream_received_processed_messages_duration_seconds_count", **labels
        ) == 5
        assert await metric(http, "faststream_received_messages_in_process", **labels) == 0


@pytest.mark.anyio
async def test_failing_handler_is_counted_as_an_exception(nats_url: str, subject: str) -> None:
    registry = CollectorRegistry()
    broker = NatsBroker(nats_url, middlewares=[NatsPrometheusMiddleware(registry=registry)])

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        raise ValueError(body)

    app = AsgiFastStream(broker, asgi_routes=[("/metrics", make_metrics_asgi(registry))])
    async with lifespan(app), client(app) as http:
        await publish_from_outside(nats_url, subject, b"bad")

        async def counted() -> bool:
            value = await metric(
                http, "faststream_received_processed_messages_exceptions_total",
                handler=subject, exception_type="ValueError",
            )
            return value == 1

        await poll(counted)


def _http_app(registry: CollectorRegistry) -> HttpMetricsMiddleware:
    inner = hello_and_broken_app(("/metrics", make_metrics_asgi(registry)))
    return HttpMetricsMiddleware(inner, registry, exclude=["/metrics"])


@pytest.mark.anyio
async def test_http_requests_are_counted_by_route_and_status() -> None:
    registry = CollectorRegistry()
    app = _http_app(registry)
    async with client(app) as http:
        for _ in range(3):
            assert (await http.get("/hello")).status_code == 200
        assert (await http.post("/hello")).status_code == 405
        assert (await http.get("/no/such/42")).status_code == 404
        assert (await http.get("/no/such/43")).status_code == 404
        assert (await http.get("/broken")).status_code == 500
        assert (await http.request("BREW", "/hello")).status_code == 405

        async def count(method: str, route: str, status: str) -> float | None:
            return await metric(
                http, "anystream_http_requests_total", method=method, route=route, status=status
            )

        assert await count("GET", "/hello", "200") == 3
        assert await count("POST", "/hello", "405") == 1
        # Unknown paths share one label: scanners cannot blow up the label set.
        assert await count("GET", "<unmatched>", "404") == 2
        assert await count("GET", "/broken", "500") == 1
        # Made-up methods share one label too.
        assert await count("_OTHER", "/hello", "405") == 1
        assert await metric(
            http, "anystream_http_request_duration_seconds_count", method="GET", route="/hello"
        ) == 3
        # The scrapes themselves are excluded.
        assert await metric(http, "anystream_http_requests_total", route="/metrics") is None


@pytest.mark.anyio
async def test_metrics_endpoint_speaks_openmetrics_when_asked() -> None:
    registry = CollectorRegistry()
    app = _http_app(registry)
    async with client(app) as http:
        await http.get("/hello")
        plain = await http.get("/metrics")
        open_metrics = await http.get(
            "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
        wrong_method = await http.post("/metrics")
    assert plain.headers["content-type"].startswith("text/plain; version=")
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "GET, HEAD")


def test_registering_the_http_metrics_twice_reuses_them() -> None:
    # An app module imported twice (a reload, a second worker in one process).
    registry = CollectorRegistry()
    first = _http_app(registry)
    second = _http_app(registry)
    assert first.requests is second.requests
    assert first.duration is second.duration
