"""``Endpoint``: the one base of anystream's built-in endpoints.

Ping, liveness, readiness, ``/metrics`` and the AsyncAPI page all answer the same
way: a method they do not take gets 405 with ``Allow``; otherwise they compute a
response from the scope alone, without faststream's dependency injection (probes
and scrapes are the hottest routes of a busy service and need nothing from the
request); an exception gets a fixed 500 body and a log line.

An endpoint is a faststream ``HttpHandler`` (the only faststream handler class
subclassed for them), so faststream's ``AsgiFastStream`` takes it as an endpoint
too: it lists it in the AsyncAPI schema (``include_in_schema``, ``description``
from :meth:`Endpoint.respond`'s docstring, ``methods``, ``tags``, ``unique_id``)
and gives it the app's logger. The contract test is
``tests/unit/test_endpoint.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from faststream.asgi.handlers import HttpHandler
from typing_extensions import Unpack

from ..exceptions import RequestBodyTooLarge
from ._limits import payload_too_large
from ._responses import AsgiResponse, internal_error, method_not_allowed
from .types import Receive, Scope, Send

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

__all__ = ("GET_HEAD", "Endpoint", "EndpointOptions")

#: What a read-only endpoint answers (faststream's ``GetHandler`` methods).
GET_HEAD = ("GET", "HEAD")


class EndpointOptions(TypedDict, total=False):
    """How an endpoint appears in the AsyncAPI schema (faststream's handler options)."""

    include_in_schema: bool
    description: str | None
    tags: Sequence[Tag | TagDict | dict[str, Any]] | None
    unique_id: str | None


class Endpoint(HttpHandler):
    """A route that answers from the scope alone: subclasses implement :meth:`respond`.

    The docstring of ``respond`` is the endpoint's description in the AsyncAPI
    schema unless ``description`` is given.
    """

    def __init__(
        self,
        *,
        methods: Sequence[str] = GET_HEAD,
        **options: Unpack[EndpointOptions],
    ) -> None:
        super().__init__(self.respond, methods=tuple(methods), **options)

    async def respond(self, scope: Scope) -> AsgiResponse:
        """The response to an accepted request."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            response = method_not_allowed(self.methods)
        else:
            try:
                response = await self.respond(scope)
            except RequestBodyTooLarge:
                response = payload_too_large
            except Exception:
                if self.logger is not None:
                    self.logger.log(
                        logging.ERROR, "Exception occurred while processing request", exc_info=True
                    )
                response = internal_error
        await response(scope, receive, send)
