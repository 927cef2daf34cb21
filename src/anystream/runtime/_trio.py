"""Backend half for trio hosts: asyncio-only brokers run in a trio-asyncio loop.

This module is imported only when the host runs trio (importing ``trio_asyncio``
patches asyncio's loop policy, which asyncio hosts must never see).

Facts this code relies on (see ``docs/trio.md``):

- Request tasks do not inherit the lifespan task's context, so every crossing
  passes ``loop=`` explicitly.
- Code that runs in asyncio context (subscriber handlers, middlewares) calls the
  broker directly; only trio tasks cross. ``sniffio`` tells which side we are on.
- ``broker.stop()`` must be run shielded by the caller, or nothing drains.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sniffio
import trio_asyncio

T = TypeVar("T")


def _repair_early_asyncio_imports(repair: Callable[[Callable[[], Any]], None] | None) -> None:
    """Point modules that imported asyncio's C ``get_running_loop`` before us at the patched one.

    trio-asyncio patches ``asyncio.get_running_loop`` when it is imported. A module
    that did ``from asyncio import get_running_loop`` earlier keeps the C builtin,
    which does not see trio-asyncio's loop: anyio's asyncio backend is one (it is
    imported whenever anyio has run on asyncio in this process), and then every
    anyio task group inside a broker call fails with "no running event loop".
    """
    if repair is not None:
        repair(asyncio.get_running_loop)


class _BridgedProducer:
    """Wraps a faststream producer: calls from trio tasks run in the asyncio loop.

    Every publish path of faststream (``broker.publish``, ``broker.request``,
    ``publisher.publish``, JetStream) ends at a producer, so bridging here makes
    them all work from trio without the user writing a bridge call.
    """

    def __init__(self, inner: Any, runtime: TrioAsyncioRuntime) -> None:
        self._anystream_inner = inner
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._anystream_inner, name)

    async def publish(self, cmd: Any) -> Any:
        return await self._runtime.call(self._anystream_inner.publish, cmd)

    async def request(self, cmd: Any) -> Any:
        return await self._runtime.call(self._anystream_inner.request, cmd)

    async def publish_batch(self, cmd: Any) -> Any:
        return await self._runtime.call(self._anystream_inner.publish_batch, cmd)


class TrioAsyncioRuntime:
    """Brokers run in a trio-asyncio loop that lives as long as the lifespan."""

    backend = "trio"

    def __init__(self, loop: Any) -> None:
        self._loop = loop

    async def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        if sniffio.current_async_library() != "trio":
            # Already in asyncio context (a subscriber handler, a middleware).
            return await fn(*args, **kwargs)
        result: T = await trio_asyncio.aio_as_trio(fn, loop=self._loop)(*args, **kwargs)
        return result

    def bridge(self, producer: Any) -> Any:
        if isinstance(producer, _BridgedProducer):
            return producer
        return _BridgedProducer(producer, self)

    def unbridge(self, producer: Any) -> Any:
        if isinstance(producer, _BridgedProducer) and producer._runtime is self:
            return producer._anystream_inner
        return producer


async def call_in_current_loop(
    fn: Callable[[], Awaitable[T]], repair: Callable[[Callable[[], Any]], None] | None
) -> T:
    """Await ``fn()`` in the trio-asyncio loop the calling trio task runs inside."""
    _repair_early_asyncio_imports(repair)
    loop = trio_asyncio.current_loop.get()
    if loop is None:
        raise RuntimeError("this task runs in no asyncio loop (no trio_asyncio.open_loop())")
    result: T = await trio_asyncio.aio_as_trio(fn, loop=loop)()
    return result


@asynccontextmanager
async def open_runtime(
    repair: Callable[[Callable[[], Any]], None] | None,
) -> AsyncIterator[TrioAsyncioRuntime]:
    _repair_early_asyncio_imports(repair)
    async with trio_asyncio.open_loop() as loop:
        yield TrioAsyncioRuntime(loop)
