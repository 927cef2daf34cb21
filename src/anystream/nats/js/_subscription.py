"""What a push and a pull subscription share: a core subscription bound to a consumer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nats.js import api

if TYPE_CHECKING:
    from ..subscription import Subscription
    from .context import JetStream

__all__ = ("ConsumerSubscription",)


class ConsumerSubscription:
    """A core subscription (``sub``) that receives what a consumer of ``stream`` sends."""

    def __init__(self, js: JetStream, sub: Subscription, stream: str, consumer: str) -> None:
        self._js = js
        self._nc = js.client
        self._sub = sub
        self._stream = stream
        self._consumer = consumer

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def consumer(self) -> str:
        """Name of the consumer (an ordered consumer's changes when it is recreated)."""
        return self._consumer

    @property
    def pending_msgs(self) -> int:
        return self._sub.pending_msgs

    @property
    def pending_bytes(self) -> int:
        return self._sub.pending_bytes

    async def consumer_info(self) -> api.ConsumerInfo:
        return await self._js.consumer_info(self._stream, self._consumer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stream={self._stream!r}, consumer={self._consumer!r})"
