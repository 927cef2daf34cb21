"""Backend half for asyncio hosts (asyncio, uvloop): brokers share the host's loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")

# Strong references: the loop keeps only weak ones to tasks.
_background: set[asyncio.Task[Any]] = set()


def spawn_task(fn: Callable[..., Awaitable[Any]], *args: Any, name: str) -> None:
    """asyncio's half of :func:`anystream.runtime.tasks.spawn` (work with no host)."""

    async def run() -> None:
        await fn(*args)

    task = asyncio.get_running_loop().create_task(run(), name=name)
    _background.add(task)
    task.add_done_callback(_background.discard)


class AsyncioRuntime:
    """Nothing to bridge: the host loop *is* the broker loop."""

    backend = "asyncio"

    async def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        return await fn(*args, **kwargs)

    def bridge(self, producer: Any) -> Any:
        return producer

    def unbridge(self, producer: Any) -> Any:
        return producer


@asynccontextmanager
async def open_runtime() -> AsyncIterator[AsyncioRuntime]:
    yield AsyncioRuntime()
