"""Observability for anystream apps: metrics, probes, traces and offline docs.

Everything here is plain anyio and ASGI, so it runs the same on asyncio and trio:

- :func:`make_metrics_asgi` serves a ``prometheus_client`` registry at ``/metrics``;
  :class:`HttpMetricsMiddleware` counts HTTP requests by route and status.
  FastStream's own ``NatsPrometheusMiddleware`` counts messages (``anystream[prometheus]``).
- :func:`make_liveness_asgi` (the process and its event loop answer) and
  :func:`make_readiness_asgi` (every broker answers a round trip and consumes).
- :class:`TracingMiddleware`: one OpenTelemetry server span per HTTP request;
  FastStream's ``NatsTelemetryMiddleware`` adds one span per message (``anystream[otel]``).
- :class:`AssetFolder` / :func:`make_static_asgi`: serve files from a local folder
  (the AsyncAPI page's JavaScript and CSS, for closed networks).

``prometheus_client`` and ``opentelemetry`` are imported only when the helper
that needs them is called.
"""

from ..asgi._assets import AssetFolder, make_static_asgi
from ..health._endpoints import (
    LivenessHandler,
    ReadinessHandler,
    make_liveness_asgi,
    make_readiness_asgi,
)
from ._metrics import HttpMetricsMiddleware, make_metrics_asgi
from ._routes import route_label
from ._tracing import TracingMiddleware

__all__ = (
    "AssetFolder",
    "HttpMetricsMiddleware",
    "LivenessHandler",
    "ReadinessHandler",
    "TracingMiddleware",
    "make_liveness_asgi",
    "make_metrics_asgi",
    "make_readiness_asgi",
    "make_static_asgi",
    "route_label",
)
