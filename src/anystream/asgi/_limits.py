"""Request body limits: refuse what is too large before a handler buffers it.

Pure helpers: :func:`declared_length` reads the scope, :func:`limit_body` wraps
``receive`` so that reading past the limit raises :class:`RequestBodyTooLarge`.
"""

from __future__ import annotations

from ..exceptions import RequestBodyTooLarge
from ._responses import AsgiResponse
from .types import Message, Receive, Scope

__all__ = (
    "DEFAULT_MAX_BODY_SIZE",
    "declared_length",
    "limit_body",
    "payload_too_large",
)

#: The default ``max_body_size``: 1 MiB. Probes and ``/metrics`` take no body and a
#: small JSON request is a few KiB; 1 MiB is also nginx's default
#: ``client_max_body_size``, so an app behind a typical ingress sees no change,
#: and a request costs at most 1 MiB of buffer, however many are open.
DEFAULT_MAX_BODY_SIZE = 1024 * 1024

payload_too_large = AsgiResponse(
    b"Payload Too Large", 413, {"content-type": "text/plain; charset=utf-8", "connection": "close"}
)


def declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` of the request, or None if absent or unreadable."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limit_body(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`RequestBodyTooLarge` once ``limit`` bytes are passed."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise RequestBodyTooLarge(limit)
        return message

    return limited
