"""Route resolution: exact endpoints as in faststream, prefix mounts as in Starlette.

Resolution is pure (scope in, decision out); :class:`Router` never awaits.

- An :class:`HttpHandler` (``@get``, ``@post``, ``make_ping_asgi``...) is an
  *endpoint*: it answers its exact path. Several endpoints may share a path with
  different methods; a method none of them accepts gets 405 with ``Allow``.
- Any other ASGI app is a *mount*: it answers its path and everything below it.
  As in Starlette, the child scope's ``root_path`` gains the mount prefix and
  ``path`` stays the full path, so a Starlette or FastAPI app mounted at ``/api``
  sees its own routes under ``/api``.

Route once, as Starlette does: the app resolves a request once and records the
match in the scope (:func:`record_route`: ``scope["route"]``, ``scope["endpoint"]``)
before the endpoint runs. Middlewares around the app read it from there
(:func:`recorded_route`) once the app returns, or hear of it as soon as it is made
(:func:`on_route`), instead of resolving the request again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from faststream.asgi.handlers import HttpHandler

from .types import ASGIApp, Scope

__all__ = (
    "INTERNAL_BINDS_ENV",
    "NOT_FOUND",
    "InternalBinds",
    "MethodNotAllowed",
    "Mounted",
    "Route",
    "Router",
    "on_route",
    "record_route",
    "recorded_route",
    "route_path",
)


def route_path(scope: Scope) -> str:
    """The path relative to ``root_path`` (Starlette's ``get_route_path``)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


@dataclass(frozen=True)
class MethodNotAllowed:
    allow: tuple[str, ...]


@dataclass(frozen=True)
class Mounted:
    app: ASGIApp
    prefix: str


@dataclass(frozen=True, slots=True)
class Route:
    """The route a request matched, as the app records it in ``scope["route"]``.

    ``path_format`` is an endpoint's path (``/orders``), a mount's prefix and
    ``/*`` (``/api/*``), or None when nothing matched (404): a fixed set of values
    whatever paths clients ask for. Starlette's key and attribute name, so
    Starlette's own middlewares read it too.
    """

    path_format: str | None
    endpoint: ASGIApp | None = None


#: What the app records when no route matches.
NOT_FOUND = Route(None)

#: Where :func:`on_route` keeps its listeners until the request is routed.
_LISTENERS = "anystream.route_listeners"


def route_of(target: HttpHandler | Mounted | MethodNotAllowed | None, path: str) -> Route:
    """The :class:`Route` of what :meth:`Router.resolve_http` returned for ``path``."""
    if target is None:
        return NOT_FOUND
    if isinstance(target, Mounted):
        return Route(target.prefix + "/*", target.app)
    if isinstance(target, MethodNotAllowed):
        return Route(path)  # an endpoint's path: endpoints match exactly
    return Route(path, target)


def record_route(scope: Scope, route: Route) -> None:
    """Put the match in the scope and tell the listeners :func:`on_route` added.

    The listeners are taken out of the scope, so a mounted app, which gets a copy,
    does not call them again: they hear of the outermost app's route only.
    """
    scope["route"] = route
    if route.endpoint is not None:
        scope["endpoint"] = route.endpoint
    listeners: list[Callable[[Route], Any]] = scope.pop(_LISTENERS, [])
    for listener in listeners:
        listener(route)


def recorded_route(scope: Scope) -> Route | None:
    """The route an anystream app recorded for this request; None if none did (yet)."""
    route = scope.get("route")
    return route if isinstance(route, Route) else None


def on_route(scope: Scope, listener: Callable[[Route], Any]) -> None:
    """Call ``listener(route)`` once the app has routed this request, before the endpoint runs.

    For a middleware that needs the route while the request runs (a gauge of
    requests in progress); a route-free app never calls it.
    """
    scope.setdefault(_LISTENERS, []).append(listener)


class Router:
    """An immutable table built from ``(path, app)`` pairs."""

    __slots__ = ("_endpoints", "_mounts")

    def __init__(self, routes: Iterable[tuple[str, ASGIApp]]) -> None:
        endpoints: dict[str, list[HttpHandler]] = {}
        mounts: list[tuple[str, ASGIApp]] = []
        for path, app in routes:
            if isinstance(app, HttpHandler):
                endpoints.setdefault(path, []).append(app)
            else:
                mounts.append((path.rstrip("/"), app))
        self._endpoints: dict[str, tuple[HttpHandler, ...]] = {
            p: tuple(h) for p, h in endpoints.items()
        }
        # Longest prefix first, registration order among equals (sort is stable).
        mounts.sort(key=lambda m: len(m[0]), reverse=True)
        self._mounts: tuple[tuple[str, ASGIApp], ...] = tuple(mounts)

    def resolve_http(
        self, path: str, method: str
    ) -> HttpHandler | Mounted | MethodNotAllowed | None:
        """What answers ``method path``: a handler, a mount, a 405, or None (404)."""
        handlers = self._endpoints.get(path)
        if handlers is not None:
            for handler in handlers:
                if method in handler.methods:
                    return handler
            mounted = self._mount_for(path)
            if mounted is not None:
                return mounted
            return MethodNotAllowed(_allowed(handlers))
        return self._mount_for(path)

    def resolve_mount(self, path: str) -> Mounted | None:
        """The mount for a non-HTTP scope (websocket): endpoints do not take those."""
        return self._mount_for(path)

    def _mount_for(self, path: str) -> Mounted | None:
        for prefix, app in self._mounts:
            if path == prefix or path.startswith(prefix + "/") or not prefix:
                return Mounted(app, prefix)
        return None


def _allowed(handlers: Sequence[HttpHandler]) -> tuple[str, ...]:
    allow: dict[str, None] = {}
    for handler in handlers:
        allow.update(dict.fromkeys(handler.methods))
    return tuple(allow)


#: Where ``anystream run --internal-bind`` (or you, under another server) names the
#: internal binds: ``ANYSTREAM_INTERNAL_BINDS=127.0.0.1:9090`` (comma-separated).
INTERNAL_BINDS_ENV = "ANYSTREAM_INTERNAL_BINDS"

_ANY_HOST = frozenset({"", "0.0.0.0", "::", "*"})


class InternalBinds:
    """The listening addresses that count as internal, matched on ``scope["server"]``.

    ``scope["server"]`` is the local address of the socket a request came in on
    (servers fill it from ``getsockname()``, never from a header), so a request is
    internal when it arrived on one of these binds. Entries: ``"9090"`` (any host),
    ``"127.0.0.1:9090"``, ``"[::1]:9090"``; a wildcard host (``0.0.0.0``, ``::``)
    matches any local address on that port. TCP only: hypercorn passes no local
    address for unix sockets.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[str | int] = ()) -> None:
        self._entries: tuple[tuple[str | None, int], ...] = tuple(
            _parse_bind(entry) for entry in entries
        )

    @classmethod
    def from_text(cls, text: str) -> InternalBinds:
        """Comma- or space-separated entries (``$ANYSTREAM_INTERNAL_BINDS``)."""
        return cls(part for part in text.replace(",", " ").split() if part)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        shown = [f"{host}:{port}" if host else str(port) for host, port in self._entries]
        return f"InternalBinds({shown!r})"

    def matches(self, scope: Scope) -> bool:
        server = scope.get("server")
        if not server or len(server) != 2 or server[1] is None:
            return False
        host, port = server
        for entry_host, entry_port in self._entries:
            if port == entry_port and (entry_host is None or entry_host == host):
                return True
        return False


def _parse_bind(entry: str | int) -> tuple[str | None, int]:
    text = str(entry).strip()
    host: str | None
    if text.isdigit():
        host, port_text = None, text
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(
                f"bad internal bind {entry!r}: expected PORT, HOST:PORT or [IPV6]:PORT"
            )
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if host in _ANY_HOST:
            host = None
    port = int(port_text)
    if not 0 < port <= 65535:
        raise ValueError(f"bad internal bind {entry!r}: the port must be from 1 to 65535")
    return host, port
