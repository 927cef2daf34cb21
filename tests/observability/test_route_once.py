"""Route once: the app records the route in the scope; metrics and spans read it from there.

As in Starlette, ``AsgiFastStream`` resolves a request once and puts the match in
``scope["route"]`` before the endpoint runs; ``HttpMetricsMiddleware`` and
``TracingMiddleware`` label requests with it instead of resolving them again, so
a 404 gets one fixed label whatever path was asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from anystream.asgi import AsgiFastStream, AsgiResponse, get
from anystream.asgi._routing import NOT_FOUND, Route, Router, on_route
from anystream.asgi.types import ASGIApp, Receive, Scope, Send
from anystream.observability import (
    HttpMetricsMiddleware,
    TracingMiddleware,
    make_metrics_asgi,
    route_label,
)
from tests.helpers import client

from .helpers import hello_and_broken_app, metric

pytestmark = pytest.mark.anyio


class RouteSeen:
    """A plain ASGI middleware that keeps the route recorded in each request's scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes: list[object] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        self.routes.append(scope.get("route"))


async def _plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = f"root_path={scope['root_path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_a_middleware_sees_the_route_the_app_matched_in_the_scope() -> None:
    @get
    async def hello(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"hello", 200)

    app = RouteSeen(AsgiFastStream(asgi_routes=[("/hello", hello), ("/api", _plain_app)]))
    async with client(app) as http:
        await http.get("/hello")
        mounted = await http.get("/api/items/7")
        await http.post("/hello")
        await http.get("/no/such/path")

    assert app.routes == [
        Route("/hello", hello),
        Route("/api/*", _plain_app),
        Route("/hello"),  # 405: the endpoint's path, no endpoint to run
        NOT_FOUND,
    ]
    assert mounted.text == "root_path=/api"  # mounts still rewrite root_path


async def test_route_listeners_hear_of_the_route_before_the_endpoint_runs() -> None:
    heard: list[Route] = []

    @get
    async def hello(scope: Scope) -> AsgiResponse:
        return AsgiResponse(f"heard {len(heard)}".encode(), 200)

    inner = AsgiFastStream(asgi_routes=[("/hello", hello)])

    async def listening(scope: Scope, receive: Receive, send: Send) -> None:
        on_route(scope, heard.append)
        await inner(scope, receive, send)

    async with client(listening) as http:
        assert (await http.get("/hello")).text == "heard 1"
    assert heard == [Route("/hello", hello)]


async def test_a_mounted_app_does_not_call_the_outer_listeners_again() -> None:
    heard: list[Route] = []

    @get
    async def hello(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"hello", 200)

    outer = AsgiFastStream(asgi_routes=[("/api", AsgiFastStream(asgi_routes=[("/hello", hello)]))])

    async def listening(scope: Scope, receive: Receive, send: Send) -> None:
        on_route(scope, heard.append)
        await outer(scope, receive, send)

    async with client(listening) as http:
        assert (await http.get("/api/hello")).text == "hello"
    assert [route.path_format for route in heard] == ["/api/*"]


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths every :class:`Router` resolves, in order."""
    seen: list[str] = []
    resolve = Router.resolve_http

    def counting(self: Router, path: str, method: str) -> object:
        seen.append(path)
        return resolve(self, path, method)

    monkeypatch.setattr(Router, "resolve_http", counting)
    yield seen


async def test_metrics_and_tracing_around_the_app_do_not_route_again(
    resolutions: list[str],
) -> None:
    registry = CollectorRegistry()
    provider = TracerProvider()
    app = TracingMiddleware(
        HttpMetricsMiddleware(hello_and_broken_app(), registry), provider
    )
    async with client(app) as http:
        await http.get("/hello")
        await http.get("/nowhere")
    assert resolutions == ["/hello", "/nowhere"]


async def test_every_404_gets_one_metrics_label_whatever_the_path() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(
        hello_and_broken_app(("/metrics", make_metrics_asgi(registry))), registry
    )
    async with client(app) as http:
        for n in range(20):
            assert (await http.get(f"/scan/{n}")).status_code == 404
        scraped = (await http.get("/metrics")).text
        assert await metric(
            http, "anystream_http_requests_total", method="GET", route="<unmatched>", status="404"
        ) == 20
    assert "/scan/" not in scraped


async def test_the_in_progress_gauge_counts_a_request_under_its_route_while_it_runs() -> None:
    registry = CollectorRegistry()
    during: list[float | None] = []

    def in_progress() -> float | None:
        return registry.get_sample_value(
            "anystream_http_requests_in_progress", {"method": "GET", "route": "/slow"}
        )

    @get
    async def slow(scope: Scope) -> AsgiResponse:
        during.append(in_progress())
        return AsgiResponse(b"", 204)

    app = HttpMetricsMiddleware(AsgiFastStream(asgi_routes=[("/slow", slow)]), registry)
    async with client(app) as http:
        await http.get("/slow")
    assert during == [1.0]
    assert in_progress() == 0.0


async def test_the_route_reaches_the_middlewares_through_any_middleware_in_between() -> None:
    # A middleware that is a plain function (no ``.app`` to walk) between them and the app.
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inner = hello_and_broken_app(("/metrics", make_metrics_asgi(registry)))

    async def passthrough(scope: Scope, receive: Receive, send: Send) -> None:
        await inner(scope, receive, send)

    app = TracingMiddleware(HttpMetricsMiddleware(passthrough, registry), provider)
    async with client(app) as http:
        await http.get("/hello")
        assert await metric(
            http, "anystream_http_requests_total", method="GET", route="/hello", status="200"
        ) == 1
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /hello", "GET /metrics"]


async def test_a_body_refused_before_it_is_read_is_labelled_by_its_route() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(
        AsgiFastStream(
            asgi_routes=[("/metrics", make_metrics_asgi(registry))], max_body_size=10
        ),
        registry,
    )
    async with client(app) as http:
        refused = await http.post("/metrics", content=b"x" * 100)
        assert refused.status_code == 413
        assert await metric(
            http, "anystream_http_requests_total", method="POST", route="/metrics", status="413"
        ) == 1


def test_route_label_reads_the_recorded_route() -> None:
    assert route_label({"type": "http", "route": Route("/orders")}) == "/orders"
    assert route_label({"type": "http", "route": NOT_FOUND}) == "<unmatched>"
    # Nothing recorded (not routed yet, or an app that is not anystream's).
    assert route_label({"type": "http"}) == "<other>"


async def test_an_app_that_routes_nothing_is_labelled_other() -> None:
    registry = CollectorRegistry()
    app = HttpMetricsMiddleware(_plain_app, registry)
    async with client(app) as http:
        await http.get("/anything")
    assert registry.get_sample_value(
        "anystream_http_requests_total", {"method": "GET", "route": "<other>", "status": "200"}
    ) == 1.0
