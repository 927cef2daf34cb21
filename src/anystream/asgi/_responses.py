"""Responses: faststream's own classes, plus the few canned ones the router sends."""

from __future__ import annotations

from collections.abc import Iterable

from faststream.asgi.response import AsgiResponse, JSONResponse

from .types import Receive, Scope, Send

__all__ = (
    "AsgiResponse",
    "JSONResponse",
    "internal_error",
    "method_not_allowed",
    "not_found",
    "send_internal_error",
)

not_found = AsgiResponse(b"Not Found", 404, {"content-type": "text/plain; charset=utf-8"})
internal_error = AsgiResponse(
    b"Internal Server Error", 500, {"content-type": "text/plain; charset=utf-8"}
)


def method_not_allowed(methods: Iterable[str]) -> AsgiResponse:
    allow = ", ".join(dict.fromkeys(methods))
    return AsgiResponse(
        b"Method Not Allowed",
        405,
        {"allow": allow, "content-type": "text/plain; charset=utf-8"},
    )


async def send_internal_error(scope: Scope, receive: Receive, send: Send) -> None:
    await internal_error(scope, receive, send)
