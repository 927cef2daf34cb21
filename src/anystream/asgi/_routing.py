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

__all__ = ("InternalBinds", "MethodNotAllowed", "Mounted", "Router", "route_path")


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
