"""The small interface between backend-neutral code and the backend halves.

Everything in anystream is plain anyio except one thing: faststream's brokers
(nats-py, aiokafka, aio-pika, redis-py) are written for asyncio. A
:class:`BrokerRuntime` owns whatever it takes to run them on the current backend
and carries calls from the host backend's tasks to the broker's event loop.

- ``_asyncio.py``: the host *is* asyncio (asyncio, uvloop); calls go straight through.
- ``_trio.py``: the host is trio; brokers run in a trio-asyncio loop inside the same
  ``trio.run`` and calls from trio tasks cross into it.

NATS brokers run on the native anyio client (``anystream.nats``) and need neither:
they get ``DirectRuntime`` (``runtime/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

__all__ = ("BrokerRuntime",)


class BrokerRuntime(Protocol):
    """Runs asyncio-bound broker code from any task of the host backend."""

    @property
    def backend(self) -> str:
        """``"asyncio"`` or ``"trio"``: the backend the host application runs on."""
        ...

    async def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` in the broker's event loop and return its result."""
        ...

    def bridge(self, producer: Any) -> Any:
        """``producer`` (one of a broker's publishers), with its calls from host tasks
        carried through :meth:`call`; the same object where nothing needs bridging."""
        ...

    def unbridge(self, producer: Any) -> Any:
        """Undo :meth:`bridge`: the producer it wrapped, else ``producer`` itself."""
        ...
