"""What anystream keeps about a broker lives in one record, which goes with the broker."""

from __future__ import annotations

import gc
import weakref

import pytest
from faststream.nats import NatsBroker

from anystream import broker_lifespan, ping_broker
from anystream.broker import stats
from anystream.broker._record import find_record, runtime_for
from anystream.runtime import DirectRuntime

pytestmark = pytest.mark.anyio


async def test_a_started_broker_has_one_record_with_its_runtime_slicer_guard_and_ping(
    nats_url: str,
) -> None:
    broker = NatsBroker(nats_url)
    assert find_record(broker) is None  # nothing is kept about a broker anystream never ran

    async with broker_lifespan(broker, redelivery_memory=10) as runtime:
        assert await ping_broker(broker, timeout=5)
        record = find_record(broker)
        assert record is not None
        assert record.runtime is runtime and runtime_for(broker) is runtime
        assert record.slicer is not None and record.guard is not None
        assert record.ping is not None and record.ping.round_trips == 1

    # Stopped: the runtime is forgotten, the counters stay readable.
    assert record.runtime is None
    assert isinstance(runtime_for(broker), DirectRuntime)
    assert stats(broker) is record.slicer.stats


async def test_the_record_goes_when_the_broker_does(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    async with broker_lifespan(broker, redelivery_memory=10):
        assert await ping_broker(broker, timeout=5)
    record = weakref.ref(find_record(broker))  # type: ignore[arg-type]
    gone = weakref.ref(broker)

    del broker
    gc.collect()

    assert gone() is None, "something anystream keeps holds the broker"
    assert record() is None
