"""Request dispatch: route once, record the match in the scope, then answer.

:func:`serve_http` resolves a request with a :class:`~._routing.Router`, records
the route (``scope["route"]``) for the middlewares around the app, applies the
body limit, and hands the request to the endpoint or mounted app; 404, 405 and
413 are answered here. Mounted apps get a copy of the scope whose ``root_path``
gains the mount prefix, as in Starlette.
"""

from __future__ import annotations

import logging

from ..exceptions import RequestBodyTooLarge
from ._handlers import answer
from ._limits import declared_length, limit_body, payload_too_large
from ._responses import method_not_allowed, not_found, send_internal_error
from ._routing import MethodNotAllowed, Mounted, Router, record_route, route_of, route_path
from .types import Message, Receive, Scope, Send

__all__ = ("serve_http", "serve_websocket")

log = logging.getLogger("anystream")


async def serve_http(
    router: Router, scope: Scope, receive: Receive, send: Send, *, max_body_size: int | None
) -> None:
    """Answer an HTTP request with what ``router`` resolves it to."""
    method = scope["method"]
    path = route_path(scope)
    target = router.resolve_http(path, method)
    record_route(scope, route_of(target, path))
    if method == "HEAD":
        send = _without_body(send)
    if max_body_size is not None:
        length = declared_length(scope)
        if length is not None and length > max_body_size:
            await payload_too_large(scope, receive, send)
            return
        receive = limit_body(receive, max_body_size)
    if target is None:
        await not_found(scope, receive, send)
    elif isinstance(target, Mounted):
        await _call_mounted(target, scope, receive, send)
    elif isinstance(target, MethodNotAllowed):
        await method_not_allowed(target.allow)(scope, receive, send)
    else:
        # Ours or faststream's: 413/422/500 with fixed bodies, the error logged.
        await answer(target, scope, receive, send)


async def serve_websocket(router: Router, scope: Scope, receive: Receive, send: Send) -> None:
    """Hand a websocket to the mounted app under its path, or close it."""
    path = route_path(scope)
    mounted = router.resolve_mount(path)
    record_route(scope, route_of(mounted, path))
    if mounted is not None:
        await _call_mounted(mounted, scope, receive, send)
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1000, "reason": "no websocket route"})


async def _call_mounted(mounted: Mounted, scope: Scope, receive: Receive, send: Send) -> None:
    child = dict(scope)
    child["root_path"] = scope.get("root_path", "") + mounted.prefix
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await mounted.app(child, receive, tracking_send)
    except RequestBodyTooLarge:
        if not started:
            await payload_too_large(scope, receive, send)
    except Exception:
        log.exception("unhandled error in the app mounted at %r", mounted.prefix or "/")
        if scope["type"] == "http" and not started:
            await send_internal_error(scope, receive, send)


def _without_body(send: Send) -> Send:
    """HEAD: pass the headers (Content-Length included), drop the body bytes."""

    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}
        await send(message)

    return head_send
