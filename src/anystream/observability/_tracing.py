"""OpenTelemetry: one server span per HTTP request, on asyncio and trio.

Message spans come from FastStream's own middleware, which anystream runs
unchanged::

    from faststream.nats.opentelemetry import NatsTelemetryMiddleware

    broker = NatsBroker(middlewares=[NatsTelemetryMiddleware(tracer_provider=provider)])
    app = TracingMiddleware(AsgiFastStream(broker), tracer_provider=provider)

The request's span is the current span while the handler runs, so a message the
handler publishes carries its trace (``traceparent`` header) to the consumer.
An incoming ``traceparent`` header continues the caller's trace.

``opentelemetry-api`` is enough to instrument; export needs ``opentelemetry-sdk``
(``pip install 'anystream[otel]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..asgi.types import ASGIApp, Message, Receive, Scope, Send
from ._routes import OTHER, UNMATCHED, ExcludedPaths, method_label, route_label

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ("TracingMiddleware",)

_INSTRUMENTATION = "anystream"


class TracingMiddleware:
    """ASGI middleware: a ``SERVER`` span per HTTP request (stable HTTP semantic conventions).

    - name ``"<METHOD> <route>"`` (``"<METHOD>"`` alone when no route matched);
    - attributes ``http.request.method``, ``http.route``, ``url.path``, ``url.scheme``,
      ``url.query``, ``server.address``/``server.port``, ``client.address``/``client.port``,
      ``network.protocol.version``, ``user_agent.original``, ``http.response.status_code``;
    - status ``ERROR`` on a 5xx answer or an exception (recorded on the span);
    - the parent is taken from the request's ``traceparent``/``baggage`` headers
      (the globally configured propagator).

    The span starts before the app runs (it is the current span while the handler
    runs) and gets its route once the app has routed the request (the app records
    it in the scope). So ``exclude`` is matched on the request's path before
    routing: an endpoint's path (``/metrics``) or a mount's prefix (``/api/*``) gets
    no span. Lifespan and other scopes pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        tracer_provider: TracerProvider | None = None,
        *,
        exclude: Sequence[str] = (),
    ) -> None:
        from opentelemetry import trace

        from .._version import __version__

        self.app = app
        self.exclude = frozenset(exclude)
        self._excluded = ExcludedPaths(self.exclude)
        self.tracer = trace.get_tracer(
            _INSTRUMENTATION, __version__, tracer_provider=tracer_provider
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._excluded.matches(scope):
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        parent = propagate.extract(headers)
        method = method_label(scope["method"])
        status = 0

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        # Named by the method until the app has routed the request (as Starlette's).
        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=_request_attributes(scope, headers),
        ) as span:
            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = route_label(scope)  # recorded by the app when it routed the request
                if route not in (UNMATCHED, OTHER):
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                if status:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))


def _request_attributes(scope: Scope, headers: dict[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": method_label(scope["method"]),
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    query = scope.get("query_string", b"")
    if query:
        attributes["url.query"] = query.decode("latin-1")
    server = scope.get("server")
    if server and server[1] is not None:
        attributes["server.address"] = server[0]
        attributes["server.port"] = server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
        attributes["client.port"] = client[1]
    agent = headers.get("user-agent")
    if agent:
        attributes["user_agent.original"] = agent
    return attributes
