"""What anystream needs of a broker: a small structural type.

Every faststream broker (``NatsBroker``, ``KafkaBroker``, ``RabbitBroker``,
``RedisBroker``, ...) and ``anystream.nats.NatsBroker`` fits it, as does any object
with these methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ("BrokerLike",)


class BrokerLike(Protocol):
    """A broker anystream can start, stop, ping, add its middlewares to and check."""

    async def start(self) -> None:
        """Connect and start the subscribers."""
        ...

    async def stop(self) -> None:
        """Stop the subscribers, finish in-flight handlers, close the connection."""
        ...

    async def ping(self, timeout: float | None) -> bool:
        """The broker's own health check (brokers without a real round trip here)."""
        ...

    def insert_middleware(self, middleware: Any) -> None:
        """Add a middleware outermost (the time slicer)."""
        ...

    def add_middleware(self, middleware: Any) -> None:
        """Add a middleware innermost (the redelivery guard)."""
        ...

    @property
    def subscribers(self) -> Sequence[Any]:
        """The broker's subscribers (readiness checks that each one is ``running``)."""
        ...
