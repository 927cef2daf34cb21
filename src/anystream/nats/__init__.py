"""A native anyio NATS client: the same code on asyncio (and uvloop) and trio.

::

    async with anystream.nats.connect("nats://127.0.0.1:4222") as nc:
        sub = await nc.subscribe("greet.*")
        await nc.publish("greet.joe", b"hello")
        msg = await sub.next_msg(timeout=1)

:mod:`anystream.nats.connection` is the sans-IO protocol state machine the client is
built on (over the codec in :mod:`anystream.nats.protocol`).

``from anystream.nats import NatsBroker`` gives faststream's ``NatsBroker`` on this client
(:mod:`anystream.nats.broker`); that module, and faststream's NATS broker with it, is
imported on first use only.
"""

from typing import TYPE_CHECKING, Any

from .client import Client
from .errors import (
    AuthorizationError,
    BadHeadersError,
    BadSubjectError,
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    MalformedFrameError,
    MaxPayloadError,
    NatsError,
    NatsTimeoutError,
    NoRespondersError,
    NoServersError,
    OutboundBufferFullError,
    ProtocolError,
    ServerError,
    SlowConsumerError,
    StaleConnectionError,
    SubscriptionClosedError,
)
from .options import Connector, Options, Statistics, Status
from .session import connect
from .subscription import Msg, Subscription

if TYPE_CHECKING:
    from .broker import NatsBroker

__all__ = (
    "AuthorizationError",
    "BadHeadersError",
    "BadSubjectError",
    "Client",
    "ConnectionClosedError",
    "ConnectionDrainingError",
    "Connector",
    "DrainTimeoutError",
    "MalformedFrameError",
    "MaxPayloadError",
    "Msg",
    "NatsBroker",
    "NatsError",
    "NatsTimeoutError",
    "NoRespondersError",
    "NoServersError",
    "Options",
    "OutboundBufferFullError",
    "ProtocolError",
    "ServerError",
    "SlowConsumerError",
    "StaleConnectionError",
    "Statistics",
    "Status",
    "Subscription",
    "SubscriptionClosedError",
    "connect",
)


def __getattr__(name: str) -> Any:
    if name == "NatsBroker":
        from .broker import NatsBroker

        return NatsBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
