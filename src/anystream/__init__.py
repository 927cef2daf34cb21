"""anystream: FastStream's ASGI runtime rebuilt on anyio (asyncio and trio).

``from anystream.asgi import AsgiFastStream`` replaces ``faststream.asgi``'s;
``from anystream import FastStream`` gives an app whose ``as_asgi()`` returns it.
"""

from ._version import __version__
from .app import FastStream
from .lifespan import broker_lifespan
from .ping import ping_broker
from .runtime import broker_call

__all__ = ("FastStream", "__version__", "broker_call", "broker_lifespan", "ping_broker")
