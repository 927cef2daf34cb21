"""anystream: FastStream's ASGI runtime rebuilt on anyio (asyncio and trio).

``from anystream.asgi import AsgiFastStream`` replaces ``faststream.asgi``'s;
``from anystream import FastStream`` gives an app whose ``as_asgi()`` returns it.
"""

from ._app import FastStream
from ._version import __version__
from .broker import broker_call, broker_lifespan
from .exceptions import (
    BrokerAlreadyConsumingError,
    BrokerStartupTimeout,
    FaststreamAdapterError,
    LifespanFailed,
    MalformedJSONError,
    RequestBodyTooLarge,
    TrioExtraMissingError,
)
from .health import ping_broker

__all__ = (
    "BrokerAlreadyConsumingError",
    "BrokerStartupTimeout",
    "FastStream",
    "FaststreamAdapterError",
    "LifespanFailed",
    "MalformedJSONError",
    "RequestBodyTooLarge",
    "TrioExtraMissingError",
    "__version__",
    "broker_call",
    "broker_lifespan",
    "ping_broker",
)
