"""Broker runtimes: run faststream's brokers on whichever backend hosts the app.

``open_runtime()`` picks the half for the running backend. Which runtime runs which
broker is kept in the broker's record (``anystream.broker._record``): this layer
imports nothing of anystream but :mod:`anystream.exceptions`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sniffio

from ..exceptions import TrioExtraMissingError
from .base import BrokerRuntime

T = TypeVar("T")

__all__ = (
    "BrokerRuntime",
    "DirectRuntime",
    "LoopRepair",
    "call_in_current_asyncio_loop",
    "open_runtime",
)

#: Called with asyncio's ``get_running_loop`` once trio-asyncio has patched it, to re-point
#: modules that took the unpatched one by name (anyio's asyncio backend: the caller passes
#: ``anystream._adapters.anyio.repoint_get_running_loop``; this layer imports nothing of it).
LoopRepair = Callable[[Callable[[], Any]], None]


class DirectRuntime:
    """For brokers whose client runs on any backend (NATS on ``anystream.nats``): no bridge."""

    @property
    def backend(self) -> str:
        return sniffio.current_async_library()

    async def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        return await fn(*args, **kwargs)

    def bridge(self, producer: Any) -> Any:
        return producer

    def unbridge(self, producer: Any) -> Any:
        return producer


@asynccontextmanager
async def open_runtime(repair: LoopRepair | None = None) -> AsyncIterator[BrokerRuntime]:
    """Open the runtime that fits the backend this task runs on.

    Only brokers whose client is asyncio-only need it (on trio it is a trio-asyncio
    loop, from ``anystream[trio]``, and ``repair`` runs first); NATS brokers run on
    :class:`DirectRuntime`.
    """
    backend = sniffio.current_async_library()
    if backend == "trio":
        try:
            from . import _trio
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise TrioExtraMissingError(
                "this broker's client is asyncio-only; running it on trio needs "
                "trio-asyncio: pip install 'anystream[trio]'"
            ) from exc
        async with _trio.open_runtime(repair) as trio_runtime:
            yield trio_runtime
    else:
        from . import _asyncio

        async with _asyncio.open_runtime() as asyncio_runtime:
            yield asyncio_runtime


async def call_in_current_asyncio_loop(
    fn: Callable[[], Awaitable[T]], /, *, repair: LoopRepair | None = None
) -> T:
    """Await ``fn()`` in the asyncio loop this task runs in.

    On asyncio that is a plain await. On trio it is the trio-asyncio loop the calling
    task runs inside (``trio_asyncio.open_loop()``): the loop that owns asyncio objects
    the caller made there (``repair`` runs first, as for :func:`open_runtime`). Raises
    ``RuntimeError`` if the task runs in none.
    """
    if sniffio.current_async_library() != "trio":
        return await fn()
    if "trio_asyncio" not in sys.modules:
        raise RuntimeError("this task runs in no asyncio loop (trio, without trio-asyncio)")
    from . import _trio

    return await _trio.call_in_current_loop(fn, repair)
