"""``make_ping_asgi``: a health endpoint backed by a real, shared round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faststream.asgi.handlers import GetHandler

from ..health._ping import shared_ping
from .responses import AsgiResponse, method_not_allowed
from .types import Receive, Scope, Send

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

__all__ = ("PingHandler", "make_ping_asgi")

_HEALTHY = AsgiResponse(b"", 204)
_UNHEALTHY = AsgiResponse(b"", 500)


class PingHandler(GetHandler):
    """GET/HEAD: 204 if the broker answered a round trip within ``timeout``, else 500.

    Bypasses dependency injection on purpose: probes are the hottest path of a
    busy service and need nothing from the request.
    """

    def __init__(
        self,
        broker: Any,
        timeout: float | None,
        *,
        include_in_schema: bool = True,
        description: str | None = None,
        tags: Sequence[Tag | TagDict | dict[str, Any]] | None = None,
        unique_id: str | None = None,
    ) -> None:
        async def ping(scope: Scope) -> AsgiResponse:
            """Broker health: 204 when it answers a ping, 500 when not."""
            return _HEALTHY if await self.ping() else _UNHEALTHY

        super().__init__(
            ping,
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )
        self.broker = broker
        self.timeout = timeout
        self._shared = shared_ping(broker)

    async def ping(self) -> bool:
        return await self._shared(self.timeout)

    @property
    def round_trips(self) -> int:
        """Round trips made to the server so far (probes in flight share one)."""
        return self._shared.round_trips

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            await method_not_allowed(self.methods)(scope, receive, send)
            return
        response = _HEALTHY if await self._shared(self.timeout) else _UNHEALTHY
        await response(scope, receive, send)


def make_ping_asgi(
    broker: Any,
    /,
    timeout: float | None = None,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Tag | TagDict | dict[str, Any]] | None = None,
    unique_id: str | None = None,
) -> PingHandler:
    """A health endpoint for ``broker``: **204** healthy, **500** not.

    Healthy means a real round trip to the server (PING/PONG for NATS) finished
    within ``timeout`` seconds (10 s if None). Probes that arrive while one round
    trip is in flight wait for it instead of sending their own.
    """
    return PingHandler(
        broker,
        timeout,
        include_in_schema=include_in_schema,
        description=description,
        tags=tags,
        unique_id=unique_id,
    )
