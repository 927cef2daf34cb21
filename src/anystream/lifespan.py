"""Start and stop brokers on the current backend, as one async context manager."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from . import redelivery
from ._redact import redact
from .runtime import BrokerRuntime, open_runtime, register, unregister
from .slicing import DEFAULT_CONSUME_BUDGET, install, slicer_for

__all__ = (
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "DEFAULT_STARTUP_TIMEOUT",
    "BrokerStartupTimeout",
    "broker_lifespan",
)

logger = logging.getLogger("anystream")

#: Seconds a broker may take to connect and start its subscribers.
DEFAULT_STARTUP_TIMEOUT = 30.0


class BrokerStartupTimeout(TimeoutError):
    """A broker did not connect and start its subscribers within ``startup_timeout``."""

    def __init__(self, broker: Any, timeout: float | None) -> None:
        super().__init__(
            f"{type(broker).__name__} did not connect within {timeout} s "
            "(is the server reachable? raise startup_timeout to wait longer)"
        )


#: Seconds a shutdown may take (stop consuming, finish in-flight handlers, drain).
DEFAULT_SHUTDOWN_TIMEOUT = 30.0


@asynccontextmanager
async def broker_lifespan(
    *brokers: Any,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    consume_budget: float | None = DEFAULT_CONSUME_BUDGET,
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
    redelivery_memory: int | None = None,
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

    ``redelivery_memory`` (messages; default ``None``: off, as in faststream): with
    a number, a JetStream message this process already handled and acked,
    delivered again because its ack was lost, is acked without running the handler
    twice (see ``anystream.redelivery``; ``DEFAULT_REDELIVERY_MEMORY`` is 100,000).

    ``startup_timeout`` (seconds, default 30; ``None`` waits as long as the client
    retries) bounds each broker's start: nats-py's defaults retry an unreachable
    server for about two minutes, longer than servers wait for a lifespan (hypercorn
    gives up after 60 s and reports something misleading). Past it the start fails
    with :class:`BrokerStartupTimeout`, which names the broker.

    ``consume_budget`` (seconds, default 2 ms) is how long a broker's consumer may
    run before it yields to the event loop, so HTTP stays responsive under any
    message load; ``None`` turns time-slicing off (see ``docs/overload.md``).
    """
    async with open_runtime() as runtime:
        adopted: list[Any] = []
        try:
            for broker in brokers:
                install(broker, consume_budget)
                redelivery.install(broker, redelivery_memory)
                register(broker, runtime)
                adopted.append(broker)
                with anyio.move_on_after(startup_timeout) as start_scope:
                    await runtime.call(broker.start)
                if start_scope.cancelled_caught:
                    raise BrokerStartupTimeout(broker, startup_timeout)
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
                    slicer = slicer_for(broker)
                    if slicer is not None:
                        slicer.flush_log()


async def _stop(runtime: BrokerRuntime, broker: Any) -> None:
    try:
        await runtime.call(broker.stop)
    except Exception as exc:
        logger.error("stopping %s failed: %s", type(broker).__name__, redact(str(exc)))
