"""Backend half for asyncio hosts (asyncio, uvloop): brokers share the host's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class AsyncioRuntime:
    """Nothing to bridge: the host loop *is* the broker loop."""

    backend = "asyncio"

    async def call(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        return await fn(*args, **kwargs)

    def adopt(self, broker: Any) -> None:
        return None

    def release(self, broker: Any) -> None:
        return None


@asynccontextmanager
async def open_runtime() -> AsyncIterator[AsyncioRuntime]:
    yield AsyncioRuntime()
