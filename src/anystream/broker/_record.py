"""One record per broker: everything anystream keeps about a broker, in one place.

A weak map from each broker to its :class:`BrokerRecord`: the runtime that runs it
while a lifespan has it started, its time slicer (with the consumption counters), its
redelivery guard, and the health round trip its probes share. :func:`record_for` is
the one place a record is made; ``broker_lifespan()`` fills in the runtime, slicer and
guard when it starts the broker and clears the runtime when it stops it. The record
goes when the broker does (its counters stay readable until then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from ..runtime import BrokerRuntime, DirectRuntime

if TYPE_CHECKING:
    from ..health._ping import SharedPing
    from ._protocol import BrokerLike
    from ._redelivery import RedeliveryGuard
    from ._slicing import TimeSlicer

__all__ = ("BrokerRecord", "broker_call", "find_record", "record_for", "runtime_for")

T = TypeVar("T")


@dataclass(eq=False)
class BrokerRecord:
    """What anystream keeps about one broker."""

    #: The runtime running the broker while a lifespan has it started, else None.
    runtime: BrokerRuntime | None = None
    #: The time budget and slow-consumer counts (from the broker's first start).
    slicer: TimeSlicer | None = None
    #: The redelivery guard, when ``redelivery_memory`` turned it on.
    guard: RedeliveryGuard | None = None
    #: The health round trip shared by the broker's probes (from the first ping).
    ping: SharedPing | None = None


_records: WeakKeyDictionary[Any, BrokerRecord] = WeakKeyDictionary()


def record_for(broker: BrokerLike) -> BrokerRecord:
    """The record of ``broker``, made on first use (the only place records are made)."""
    record = _records.get(broker)
    if record is None:
        record = _records[broker] = BrokerRecord()
    return record


def find_record(broker: BrokerLike) -> BrokerRecord | None:
    """The record of ``broker``, or None if anystream never ran nor pinged it."""
    return _records.get(broker)


# Brokers started outside anystream: called where the caller runs.
_direct: BrokerRuntime = DirectRuntime()


def runtime_for(broker: BrokerLike) -> BrokerRuntime:
    """The runtime running ``broker``; a pass-through one if anystream did not start it."""
    record = _records.get(broker)
    runtime = None if record is None else record.runtime
    return _direct if runtime is None else runtime


async def broker_call(
    broker: BrokerLike, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
) -> T:
    """Await ``fn(*args, **kwargs)`` where ``broker``'s client lives.

    On asyncio this is a plain await. On trio it runs the call in the broker's
    asyncio loop: use it for driver objects anystream does not bridge for you
    (``broker.connection``, key-value and object stores).
    """
    return await runtime_for(broker).call(fn, *args, **kwargs)
