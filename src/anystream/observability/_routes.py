"""Route labels for metrics and span names: the route, never the raw path.

Raw paths make unbounded label sets (``/orders/1``, ``/orders/2``...). An
:class:`~anystream.asgi.AsgiFastStream` knows its routes, so a request is
labelled with the endpoint path it matched, the mount prefix it fell under
(``/api/*``), or ``<unmatched>`` for a 404. Other apps get ``<other>``.
"""

from __future__ import annotations

from typing import Any

from ..asgi._routing import Mounted, Router, route_path
from ..asgi.types import Scope

__all__ = ("UNMATCHED", "method_label", "route_label")

_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def method_label(method: str) -> str:
    """The method, or ``_OTHER`` for a non-standard one (as OpenTelemetry's conventions say)."""
    return method if method in _METHODS else "_OTHER"

#: The label of a request no route answers.
UNMATCHED = "<unmatched>"
#: The label of a request to an app whose routes anystream cannot see.
OTHER = "<other>"


def _router_of(app: Any) -> Router | None:
    for _ in range(16):  # middlewares wrapping middlewares: bounded
        if app is None:
            return None
        router = getattr(app, "router", None)
        if isinstance(router, Router):
            return router
        app = getattr(app, "app", None)  # the app a middleware wraps
    return None


def route_label(app: Any, scope: Scope) -> str:
    """The route of ``scope`` in ``app`` (or in the app it wraps), for labels and span names."""
    router = _router_of(app)
    if router is None:
        return OTHER
    path = route_path(scope)
    target = router.resolve_http(path, scope.get("method", "GET"))
    if target is None:
        return UNMATCHED
    if isinstance(target, Mounted):
        return (target.prefix or "") + "/*"
    # An endpoint (or a 405 at an endpoint's path): endpoints match exactly.
    return path
