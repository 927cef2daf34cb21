"""The client's reader pacing, set through ``anystream.nats.NatsBroker``'s constructor.

``backlog_limit``, ``backlog_read_size``, ``read_checkpoint_events`` and
``read_checkpoint_budget`` are not faststream's: the broker takes them as keyword
arguments and hands them to its :mod:`anystream.nats` connection. A handler that waits
keeps messages queued (the backlog); the client counts the reads it held small
(``stats.paced_reads``). Real nats-server, both backends; counts, no clocks.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anystream.nats import NatsBroker
from anystream.nats.client import Client as NativeClient
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio

BODY = "x" * 200


async def _held_handler_run(broker: NatsBroker, subject: str) -> tuple[int, int]:
    """Queue messages behind a waiting handler; the client's paced reads before and during
    a second batch of 40 messages (200-byte bodies)."""
    release = anyio.Event()
    handled: list[str] = []

    @broker.subscriber(subject)
    async def held(body: str) -> None:
        await release.wait()
        handled.append(body)

    async with broker:
        await broker.start()
        native: NativeClient = broker.connection.native
        for i in range(20):
            await broker.publish(f"m{i}", subject)
        await wait_until(lambda: native.stats.in_msgs >= 20)
        before = native.stats.paced_reads
        for _ in range(40):
            await broker.publish(BODY, subject)
        await wait_until(lambda: native.stats.in_msgs >= 60)
        during = native.stats.paced_reads - before
        release.set()
        await wait_until(lambda: len(handled) == 60)
    return before, during


async def test_a_backlog_limit_set_on_the_broker_holds_the_clients_reads_small(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url, backlog_limit=10, backlog_read_size=256)
    before, during = await _held_handler_run(broker, subject)
    # 19 messages wait behind the handler: over the limit, so every later read is held,
    # and 40 messages of 200 bytes need at least 8,000 / 256 reads of 256 bytes.
    assert before >= 1
    assert during >= 40 * len(BODY) // 256


async def test_the_default_backlog_limit_leaves_a_small_backlog_unpaced(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url)  # backlog_limit=512: 59 queued messages are under it
    assert await _held_handler_run(broker, subject) == (0, 0)


async def test_pacing_off_on_the_broker_never_holds_a_read(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url, backlog_limit=None, backlog_read_size=256)
    assert await _held_handler_run(broker, subject) == (0, 0)


def test_the_broker_forwards_its_pacing_options_to_the_client() -> None:
    broker = NatsBroker(
        "nats://127.0.0.1:1",
        backlog_limit=64,
        backlog_read_size=4096,
        read_checkpoint_events=32,
        read_checkpoint_budget=0.001,
        name="svc",  # faststream's own options still work beside them
    )
    assert broker.client_options == {
        "backlog_limit": 64,
        "backlog_read_size": 4096,
        "read_checkpoint_events": 32,
        "read_checkpoint_budget": 0.001,
    }


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("backlog_limit", 0),
        ("backlog_read_size", 0),
        ("read_checkpoint_events", 0),
        ("read_checkpoint_budget", -1.0),
    ],
)
def test_out_of_range_pacing_is_refused_when_the_broker_is_built(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option):
        NatsBroker("nats://127.0.0.1:1", **{option: value})
