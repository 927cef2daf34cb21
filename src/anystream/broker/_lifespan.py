"""Start and stop brokers on the current backend, as one async context manager."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

from .._adapters.anyio import repoint_get_running_loop
from .._adapters.faststream import connection, swap_producers
from .._groups import unwrap_group
from .._redact import redact
from ..exceptions import BrokerAlreadyConsumingError, BrokerStartupTimeout
from ..runtime import BrokerRuntime, DirectRuntime, call_in_current_asyncio_loop, open_runtime
from ..runtime.tasks import hosting
from . import _redelivery, _slicing
from ._protocol import BrokerLike
from ._record import record_for
from ._slicing import DEFAULT_CONSUME_BUDGET

__all__ = (
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "DEFAULT_STARTUP_TIMEOUT",
    "broker_lifespan",
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

logger = logging.getLogger("anystream")

#: Seconds a broker may take to connect and start its subscribers.
DEFAULT_STARTUP_TIMEOUT = 30.0

#: Seconds a shutdown may take (stop consuming, finish in-flight handlers, drain).
DEFAULT_SHUTDOWN_TIMEOUT = 30.0


@asynccontextmanager
async def broker_lifespan(
    *brokers: BrokerLike,
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
    twice (see ``docs/reliability.md``; ``DEFAULT_REDELIVERY_MEMORY`` is 100,000).

    ``startup_timeout`` (seconds, default 30; ``None`` waits as long as the client
    retries) bounds each broker's start: nats-py's defaults retry an unreachable
    server for about two minutes, longer than servers wait for a lifespan (hypercorn
    gives up after 60 s and reports something misleading). Past it the start fails
    with :class:`BrokerStartupTimeout`, which names the broker.

    ``consume_budget`` (seconds, default 2 ms) is how long a broker's consumer may
    run before it yields to the event loop, so HTTP stays responsive under any
    message load; ``None`` turns time-slicing off (see ``docs/overload.md``).
    """
    try:
        async with AsyncExitStack() as stack:
            # Background work the brokers start (their connections, consume loops)
            # belongs to this task group: nothing outlives the lifespan.
            group = await stack.enter_async_context(anyio.create_task_group())
            host = stack.enter_context(hosting(group))
            # Whatever the brokers left running (a stop that timed out) ends here.
            stack.callback(host.cancel)
            direct: BrokerRuntime = DirectRuntime()
            bridge: BrokerRuntime | None = None
            runtimes: list[BrokerRuntime] = []
            for broker in brokers:
                await _close_nats_py_connection(broker)
                # NATS brokers run on anystream.nats, natively on every backend; the
                # others may need a bridge (trio-asyncio on trio), opened only for them.
                if _adopt_native(broker):
                    runtimes.append(direct)
                    continue
                if bridge is None:
                    bridge = await stack.enter_async_context(open_runtime(repoint_get_running_loop))
                runtimes.append(bridge)
            async with _started(
                brokers,
                runtimes,
                shutdown_timeout=shutdown_timeout,
                consume_budget=consume_budget,
                startup_timeout=startup_timeout,
                redelivery_memory=redelivery_memory,
            ):
                yield bridge or direct
    except BaseExceptionGroup as group:
        # Only the block's own exception can be in here (background tasks never
        # raise into the host): hand it back unwrapped, as without the task group.
        inner = unwrap_group(group)
        if inner is not group:
            raise inner from inner.__cause__
        raise


async def _close_nats_py_connection(broker: Any) -> None:
    """A NATS broker the app connected with nats-py itself: close that connection.

    It is then adopted and connected with anystream.nats like any other. A broker that
    already consumes on nats-py is refused (:class:`BrokerAlreadyConsumingError`).
    """
    import faststream.nats
    from nats.aio.client import Client as NatsPyClient

    if not isinstance(broker, faststream.nats.NatsBroker):
        return
    # type(), not isinstance(): a test broker's mock made with spec=Client passes isinstance.
    if not issubclass(type(connection(broker)), NatsPyClient):
        return
    if broker.running:
        raise BrokerAlreadyConsumingError(broker)
    logger.info(
        "%s arrived connected with nats-py: closing that connection to connect it "
        "with anystream.nats",
        type(broker).__name__,
    )
    try:
        # faststream's stop() drains the connection and forgets it (no subscriber runs).
        await call_in_current_asyncio_loop(broker.stop, repair=repoint_get_running_loop)
    except RuntimeError as exc:
        raise RuntimeError(
            f"{type(broker).__name__} is connected with nats-py in an asyncio loop "
            f"anystream cannot reach ({exc}); hand the broker to the app unconnected"
        ) from exc


def _adopt_native(broker: Any) -> bool:
    """Put a NATS broker on anystream.nats; True if it runs there."""
    from ..nats.broker import adopt

    return adopt(broker)


@asynccontextmanager
async def _started(
    brokers: tuple[BrokerLike, ...],
    runtimes: list[BrokerRuntime],
    *,
    shutdown_timeout: float,
    consume_budget: float | None,
    startup_timeout: float | None,
    redelivery_memory: int | None,
) -> AsyncIterator[None]:
    adopted: list[tuple[BrokerLike, BrokerRuntime]] = []
    try:
        for broker, runtime in zip(brokers, runtimes, strict=True):
            _slicing.install(broker, consume_budget)
            _redelivery.install(broker, redelivery_memory)
            _attach(broker, runtime)
            adopted.append((broker, runtime))
            with anyio.move_on_after(startup_timeout) as start_scope:
                await runtime.call(broker.start)
                await _subscribed(broker)
            if start_scope.cancelled_caught:
                raise BrokerStartupTimeout(broker, startup_timeout)
        yield
    finally:
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(shutdown_timeout) as scope:
                for broker, runtime in reversed(adopted):
                    await _stop(runtime, broker)
            if scope.cancelled_caught:
                logger.error(
                    "brokers did not stop within %.1f s; remaining work was abandoned",
                    shutdown_timeout,
                )
            for broker, runtime in adopted:
                _detach(broker, runtime)


def _attach(broker: BrokerLike, runtime: BrokerRuntime) -> None:
    """The broker runs on ``runtime`` from now on (its record says so)."""
    swap_producers(broker, runtime.bridge)
    record_for(broker).runtime = runtime


def _detach(broker: BrokerLike, runtime: BrokerRuntime) -> None:
    """The broker stopped: its record forgets the runtime; the slicer logs what is left."""
    record = record_for(broker)
    if record.runtime is runtime:
        record.runtime = None
    swap_producers(broker, runtime.unbridge)
    if record.slicer is not None:
        record.slicer.flush_log()


async def _subscribed(broker: Any) -> None:
    """On anystream.nats: one round trip, so the server has every subscription in place."""
    from ..nats.broker import is_native

    if is_native(broker):
        await broker.connection.flush()


async def _stop(runtime: BrokerRuntime, broker: Any) -> None:
    try:
        await runtime.call(broker.stop)
    except Exception as exc:
        logger.error("stopping %s failed: %s", type(broker).__name__, redact(str(exc)))
