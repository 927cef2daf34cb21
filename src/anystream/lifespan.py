"""Start and stop brokers on the current backend, as one async context manager."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from ._redact import redact
from .runtime import BrokerRuntime, open_runtime, register, unregister

__all__ = ("DEFAULT_SHUTDOWN_TIMEOUT", "broker_lifespan")

logger = logging.getLogger("anystream")

#: Seconds a shutdown may take (stop consuming, finish in-flight handlers, drain).
DEFAULT_SHUTDOWN_TIMEOUT = 30.0


@asynccontextmanager
async def broker_lifespan(
    *brokers: Any,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> AsyncIterator[BrokerRuntime]:
    """Connect ``brokers`` and start their subscribers; stop them on exit.

    Works on asyncio and trio alike; use it inside another framework's lifespan::

        @asynccontextmanager
        async def lifespan(app):
            async with broker_lifespan(broker):
                yield

    Entering returns only once every broker is connected and its subscribers are
    running; a broker that cannot connect raises here. Leaving stops the brokers
    in reverse order in a shielded scope bounded by ``shutdown_timeout``: the
    subscribers stop taking messages, in-flight handlers finish, the connection
    drains. A stop that fails is logged and does not hide the others.
    """
    async with open_runtime() as runtime:
        adopted: list[Any] = []
        try:
            for broker in brokers:
                register(broker, runtime)
                adopted.append(broker)
                await runtime.call(broker.start)
            yield runtime
        finally:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(shutdown_timeout) as scope:
                    for broker in reversed(adopted):
                        await _stop(runtime, broker)
                if scope.cancelled_caught:
                    logger.error(
                        "brokers did not stop within %.1f s; remaining work was abandoned",
                        shutdown_timeout,
                    )
                for broker in adopted:
                    unregister(broker)


async def _stop(runtime: BrokerRuntime, broker: Any) -> None:
    try:
        await runtime.call(broker.stop)
    except Exception as exc:
        logger.error("stopping %s failed: %s", type(broker).__name__, redact(str(exc)))
