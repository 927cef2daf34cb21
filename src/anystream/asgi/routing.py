"""Route resolution: exact endpoints as in faststream, prefix mounts as in Starlette.

Resolution is pure (scope in, decision out); :class:`Router` never awaits.

- An :class:`HttpHandler` (``@get``, ``@post``, ``make_ping_asgi``...) is an
  *endpoint*: it answers its exact path. Several endpoints may share a path with
  different methods; a method none of them accepts gets 405 with ``Allow``.
- Any other ASGI app is a *mount*: it answers its path and everything below it.
  As in Starlette, the child scope's ``root_path`` gains the mount prefix and
  ``path`` stays the full path, so a Starlette or FastAPI app mounted at ``/api``
  sees its own routes under ``/api``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from faststream.asgi.handlers import HttpHandler

from .types import ASGIApp, Scope

__all__ = ("MethodNotAllowed", "Mounted", "Router", "route_path")


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
