"""Route labels for metrics and span names: the route, never the raw path.

Raw paths make unbounded label sets (``/orders/1``, ``/orders/2``...). An
:class:`~anystream.asgi.AsgiFastStream` routes each request once and records the
route in the scope (``scope["route"]``, as Starlette does); the middlewares read
it from there once the app has routed the request: the endpoint path it matched,
the mount prefix it fell under (``/api/*``), or ``<unmatched>`` for a 404. A
request no anystream app routed gets ``<other>``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..asgi._routing import Route, recorded_route, route_path
from ..asgi.types import Scope

__all__ = ("OTHER", "UNMATCHED", "ExcludedPaths", "label_of", "method_label", "route_label")

_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def method_label(method: str) -> str:
    """The method, or ``_OTHER`` for a non-standard one (as OpenTelemetry's conventions say)."""
    return method if method in _METHODS else "_OTHER"


#: The label of a request no route answers.
UNMATCHED = "<unmatched>"
#: The label of a request no anystream app routed.
OTHER = "<other>"


def label_of(route: Route) -> str:
    """The label of a recorded route: its path format, or ``<unmatched>`` (404)."""
    return route.path_format if route.path_format is not None else UNMATCHED


def route_label(scope: Scope) -> str:
    """The label of the route the app recorded in ``scope``, for metrics and span names.

    Read it once the app has routed the request (after ``await app(scope, ...)``
    in a middleware): before that, and for apps that are not anystream's, it is
    ``<other>``.
    """
    route = recorded_route(scope)
    return OTHER if route is None else label_of(route)


class ExcludedPaths:
    """Routes a middleware leaves alone, matched on the request's path before routing.

    An entry is an endpoint's path (``/metrics``: that path exactly) or a mount's
    label (``/api/*``: the prefix and everything below it).
    """

    __slots__ = ("_paths", "_prefixes")

    def __init__(self, routes: Iterable[str]) -> None:
        self._paths = frozenset(routes)
        self._prefixes = tuple(route[:-2] for route in self._paths if route.endswith("/*"))

    def __bool__(self) -> bool:
        return bool(self._paths)

    def matches(self, scope: Scope) -> bool:
        if not self._paths:
            return False
        path = route_path(scope)
        if path in self._paths:
            return True
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self._prefixes)
