"""A backlog of messages does not starve the other tasks of the process.

The scripted server sends thousands of messages in one chunk (one read for the client).
Another task counts its turns and notes how far the reader was each time: it must get
turns while the backlog is being taken in, not only before and after. Counts, no clocks.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from nats_helpers import wait_until
from scripted import ScriptedServer, assert_option_refused

from anystream import nats
from anystream.nats.options import DEFAULT_READ_CHECKPOINT_EVENTS

pytestmark = pytest.mark.anyio

BACKLOG = 5000


async def _turns_during_backlog(**options: object) -> list[int]:
    """``sub.received`` as seen by another task at each of its turns mid-backlog."""
    server = ScriptedServer()
    seen: list[int] = []
    async with nats.connect(server.url, connector=server.connector, **options) as nc:  # type: ignore[arg-type]
        conn = await server.accept_handshake()
        sub = await nc.subscribe("backlog")
        assert await conn.read_line() == b"SUB backlog 1"
        backlog = b"".join(b"MSG backlog 1 4\r\n%04d\r\n" % i for i in range(BACKLOG))

        async def other_task() -> None:
            while sub.received < BACKLOG:
                if sub.received:
                    seen.append(sub.received)
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(other_task)
            await conn.send(backlog)
            await wait_until(lambda: sub.received == BACKLOG)
        assert [m.data for m in [await sub.next_msg(timeout=1) for _ in range(3)]] == [
            b"0000",
            b"0001",
            b"0002",
        ]
    return seen


async def test_other_tasks_run_while_a_backlog_is_taken_in() -> None:
    seen = await _turns_during_backlog()
    # The reader yields every read_checkpoint_events messages (or sooner, when its time
    # budget runs out). trio may run the reader twice in a row (it randomizes the order
    # within a scheduling batch), so count at least half of those turns.
    checkpoints = BACKLOG // DEFAULT_READ_CHECKPOINT_EVENTS - 1
    assert len(seen) >= checkpoints // 2
    assert seen == sorted(seen) and 0 < seen[0] < seen[-1] < BACKLOG


async def test_checkpoints_come_every_read_checkpoint_events_messages() -> None:
    seen = await _turns_during_backlog(read_checkpoint_events=100, read_checkpoint_budget=3600)
    assert all(count % 100 == 0 for count in seen)  # the reader stopped only there
    assert len(seen) >= (BACKLOG // 100 - 1) // 2


async def test_without_checkpoints_the_backlog_is_taken_in_one_go() -> None:
    # The control case: what the reader would do without checkpoints.
    seen = await _turns_during_backlog(read_checkpoint_events=10**9, read_checkpoint_budget=3600)
    assert seen == []


@pytest.mark.parametrize(
    ("option", "value"), [("read_checkpoint_events", 0), ("read_checkpoint_budget", -1.0)]
)
async def test_checkpoint_options_out_of_range_are_refused(option: str, value: float) -> None:
    await assert_option_refused(option, value)
