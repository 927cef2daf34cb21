"""Prometheus: a ``/metrics`` endpoint and HTTP request metrics, on asyncio and trio.

Message metrics come from FastStream's own middleware, which anystream runs
unchanged (on trio it runs in the broker's asyncio loop, in the same process and
registry)::

    from prometheus_client import CollectorRegistry
    from faststream.nats.prometheus import NatsPrometheusMiddleware

    registry = CollectorRegistry()
    broker = NatsBroker(middlewares=[NatsPrometheusMiddleware(registry=registry)])
    app = AsgiFastStream(broker, asgi_routes=[("/metrics", make_metrics_asgi(registry))])

``prometheus_client`` is an optional dependency: ``pip install 'anystream[prometheus]'``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._adapters.prometheus import registered
from ..asgi._endpoint import Endpoint
from ..asgi._responses import AsgiResponse
from ..asgi._routing import Route, on_route
from ..asgi.types import ASGIApp, Message, Receive, Scope, Send
from ._routes import label_of, method_label, route_label

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ("HttpMetricsMiddleware", "MetricsHandler", "make_metrics_asgi")

#: Default buckets of the HTTP duration histogram, in seconds.
DEFAULT_DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


#: Bound on the cached labelled children (methods x routes x statuses are few).
_CHILD_CACHE_LIMIT = 4096


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "metrics need prometheus_client: pip install 'anystream[prometheus]'"
        ) from exc
    return prometheus_client


class MetricsHandler(Endpoint):
    """GET/HEAD: the registry in Prometheus text format (OpenMetrics if the scraper asks)."""

    def __init__(self, registry: CollectorRegistry, *, include_in_schema: bool = False) -> None:
        super().__init__(include_in_schema=include_in_schema)
        self.registry = registry

    async def respond(self, scope: Scope) -> AsgiResponse:
        """Prometheus metrics of this process."""
        return self.render(scope)

    def render(self, scope: Scope) -> AsgiResponse:
        from prometheus_client.exposition import choose_encoder

        accept = ""
        for name, value in scope.get("headers", ()):
            if name == b"accept":
                accept = value.decode("latin-1")
                break
        encoder, content_type = choose_encoder(accept)
        return AsgiResponse(encoder(self.registry), 200, {"content-type": content_type})


def make_metrics_asgi(
    registry: CollectorRegistry | None = None, *, include_in_schema: bool = False
) -> MetricsHandler:
    """A ``/metrics`` endpoint serving ``registry`` (prometheus_client's global one if None).

    Content negotiation as ``prometheus_client`` does it: the Prometheus text
    format, or OpenMetrics when the scraper's ``Accept`` asks for it.
    """
    if registry is None:
        registry = _prometheus().REGISTRY
    else:
        _prometheus()
    assert registry is not None
    return MetricsHandler(registry, include_in_schema=include_in_schema)


class HttpMetricsMiddleware:
    """ASGI middleware: count and time HTTP requests by method, route and status.

    Metrics (``prefix`` defaults to ``anystream``):

    - ``<prefix>_http_requests_total{method, route, status}``
    - ``<prefix>_http_request_duration_seconds{method, route}`` (histogram)
    - ``<prefix>_http_requests_in_progress{method, route}``

    ``route`` is the route the app matched, not the raw path (see
    :func:`~anystream.observability.route_label`), so label sets stay bounded: the
    app records it in the scope when it routes the request, and this middleware
    reads it from there. Requests in progress are counted from that moment
    (requests to an app that records no route are counted once answered, under
    ``<other>``). Routes in ``exclude`` (e.g. the probes) are not counted.
    Lifespan and other scopes pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        registry: CollectorRegistry | None = None,
        *,
        prefix: str = "anystream",
        exclude: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_DURATION_BUCKETS,
    ) -> None:
        prom = _prometheus()
        self.app = app
        self.registry = registry if registry is not None else prom.REGISTRY
        self.exclude = frozenset(exclude)
        name = f"{prefix}_http_requests"
        self.requests = registered(self.registry, f"{name}_total") or prom.Counter(
            name,
            "HTTP requests answered, by method, route and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        duration_name = f"{prefix}_http_request_duration_seconds"
        self.duration = registered(self.registry, duration_name) or prom.Histogram(
            duration_name,
            "HTTP request duration in seconds, by method and route",
            ("method", "route"),
            buckets=tuple(buckets),
            registry=self.registry,
        )
        progress_name = f"{prefix}_http_requests_in_progress"
        self.in_progress = registered(self.registry, progress_name) or prom.Gauge(
            progress_name,
            "HTTP requests being answered, by method and route",
            ("method", "route"),
            registry=self.registry,
        )

        # Labelled children, looked up once (labels() costs a lock and a dict each time).
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._counters: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = method_label(scope["method"])
        status = 500  # what the server answers if the app raises before responding
        in_progress: Any = None

        def routed(route: Route) -> None:
            nonlocal in_progress
            label = label_of(route)
            if label not in self.exclude:
                in_progress = self._children_for(method, label)[1]
                in_progress.inc()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        on_route(scope, routed)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            elapsed = time.perf_counter() - start
            if in_progress is not None:
                in_progress.dec()
            route = route_label(scope)  # recorded by the app when it routed the request
            if route not in self.exclude:
                self._children_for(method, route)[0].observe(elapsed)
                self._counter_for(method, route, status).inc()

    def _children_for(self, method: str, route: str) -> tuple[Any, Any]:
        """The (duration, in progress) children of ``method, route``."""
        key = (method, route)
        children = self._children.get(key)
        if children is None:
            children = (self.duration.labels(method, route), self.in_progress.labels(method, route))
            if len(self._children) < _CHILD_CACHE_LIMIT:
                self._children[key] = children
        return children

    def _counter_for(self, method: str, route: str, status: int) -> Any:
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self.requests.labels(method, route, str(status))
            if len(self._counters) < _CHILD_CACHE_LIMIT:
                self._counters[key] = counter
        return counter
