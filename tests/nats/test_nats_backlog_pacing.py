"""The reader paces itself by the backlog: the messages the application has not taken yet.

Under ``backlog_limit`` it reads as much as the stream has (256 KiB per read); at or over
it, it lets other tasks run before each read and asks for ``backlog_read_size`` bytes
only, so the server keeps the excess and the rest of the process gets the CPU. A
scripted in-memory server sends the messages; a stream wrapper counts the client's reads
and the turns another task got. Counts, no clocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from nats_helpers import wait_until
from scripted import ScriptedServer, ServerConnection, assert_option_refused

from anystream import nats
from anystream.nats.network import READ_SIZE
from anystream.nats.options import DEFAULT_BACKLOG_LIMIT, DEFAULT_BACKLOG_READ_SIZE

pytestmark = pytest.mark.anyio

FRAME = len(b"MSG backlog 1 4\r\n0000\r\n")


def messages(start: int, count: int) -> bytes:
    return b"".join(b"MSG backlog 1 4\r\n%04d\r\n" % i for i in range(start, start + count))


def assert_full_after_the_pending_read(reads: list[tuple[int, int, int]]) -> None:
    """The read waiting while the application caught up was asked small; later ones full."""
    asked = [asked for asked, _, _ in reads]
    assert len(asked) == 2
    assert asked[0] == DEFAULT_BACKLOG_READ_SIZE and asked[1] == READ_SIZE


class CountedStream(anyio.abc.ByteStream):
    """The client's stream, noting each read: bytes asked, bytes got, other task's turns."""

    def __init__(self, inner: anyio.abc.ByteStream, turns: list[int]) -> None:
        self.inner = inner
        self.turns = turns
        self.reads: list[tuple[int, int, int]] = []

    async def receive(self, max_bytes: int = 65536) -> bytes:
        turns_before = self.turns[0]
        data = await self.inner.receive(max_bytes)
        self.reads.append((max_bytes, len(data), turns_before))
        return data

    async def send(self, item: bytes) -> None:
        await self.inner.send(item)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


class Setup:
    def __init__(self) -> None:
        self.server = ScriptedServer()
        self.turns = [0]
        self.stream: CountedStream | None = None

    def connect(self, **options: Any) -> AbstractAsyncContextManager[nats.Client]:
        """``nats.connect()`` to the scripted server through the counting stream."""
        return nats.connect(self.server.url, connector=self.connector, **options)

    async def connector(self, host: str, port: int) -> anyio.abc.ByteStream:
        self.stream = CountedStream(await self.server.connector(host, port), self.turns)
        return self.stream

    @property
    def reads(self) -> list[tuple[int, int, int]]:
        assert self.stream is not None
        return self.stream.reads

    async def other_task(self, stop: anyio.Event) -> None:
        while not stop.is_set():
            self.turns[0] += 1
            await anyio.lowlevel.checkpoint()


async def _subscribed(
    setup: Setup, nc: nats.Client, **kwargs: object
) -> tuple[nats.Subscription, ServerConnection]:
    conn = await setup.server.accept_handshake()
    sub = await nc.subscribe("backlog", **kwargs)  # type: ignore[arg-type]
    assert await conn.read_line() == b"SUB backlog 1"
    return sub, conn


async def backlog(conn: ServerConnection, sub: nats.Subscription, count: int) -> None:
    """Send ``count`` messages the application does not take: they wait in ``sub``."""
    await conn.send(messages(0, count))
    await wait_until(lambda: sub.pending_msgs == count)


async def feed(
    conn: ServerConnection, starts: Iterable[int], count: int, taken: Callable[[], int]
) -> None:
    """Send ``count`` messages from each of ``starts``, each time until ``taken()`` has them."""
    for start in starts:
        await conn.send(messages(start, count))
        await wait_until(lambda: taken() == start + count)  # noqa: B023


async def alive_while_sending(nc: nats.Client, conn: ServerConnection, answer: bytes) -> bool:
    """``nc.alive()``, the server sending ``answer`` to its PING."""
    alive: list[bool] = []
    async with anyio.create_task_group() as tg:

        async def ask() -> None:
            alive.append(await nc.alive(timeout=5))

        tg.start_soon(ask)
        assert await conn.read_line() == b"PING"
        await conn.send(answer)
    return alive[0]


async def test_over_the_backlog_limit_reads_are_small_and_other_tasks_run() -> None:
    setup = Setup()
    async with setup.connect(backlog_limit=100) as nc:
        sub, conn = await _subscribed(setup, nc)
        await backlog(conn, sub, 200)  # over the limit
        setup.reads.clear()
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(setup.other_task, stop)
            await conn.send(messages(200, 1000))
            await wait_until(lambda: sub.received == 1200)
            stop.set()
        paced = setup.reads
        assert {asked for asked, _, _ in paced} == {DEFAULT_BACKLOG_READ_SIZE}
        assert len(paced) >= 1000 * FRAME // DEFAULT_BACKLOG_READ_SIZE
        # The other task ran before each of these reads but the first: the reader let it.
        turns = [seen for _, _, seen in paced]
        assert all(later > earlier for earlier, later in itertools.pairwise(turns))
        assert [(await sub.next_msg(timeout=1)).data for _ in range(2)] == [b"0000", b"0001"]


async def test_under_the_backlog_limit_reads_are_full() -> None:
    setup = Setup()
    async with setup.connect() as nc:
        sub, conn = await _subscribed(setup, nc)
        setup.reads.clear()
        await feed(conn, range(0, DEFAULT_BACKLOG_LIMIT - 100, 100), 100, lambda: sub.received)
        assert setup.reads and {asked for asked, _, _ in setup.reads} == {READ_SIZE}


async def test_reads_are_full_again_once_the_application_catches_up() -> None:
    setup = Setup()
    async with setup.connect(backlog_limit=100) as nc:
        sub, conn = await _subscribed(setup, nc)
        await backlog(conn, sub, 300)
        for _ in range(300):
            await sub.next_msg(timeout=1)
        setup.reads.clear()
        await feed(conn, (300, 310), 10, lambda: sub.received)
        assert_full_after_the_pending_read(setup.reads)


async def test_a_callback_subscriptions_backlog_paces_the_reader() -> None:
    setup = Setup()
    release = anyio.Event()
    handled: list[bytes] = []

    async def slow(msg: nats.Msg) -> None:
        await release.wait()
        handled.append(msg.data)

    async with setup.connect(backlog_limit=50) as nc:
        sub, conn = await _subscribed(setup, nc, cb=slow)
        await feed(conn, (0,), 100, lambda: sub.received)
        setup.reads.clear()
        await feed(conn, (100,), 200, lambda: sub.received)
        assert {asked for asked, _, _ in setup.reads} == {DEFAULT_BACKLOG_READ_SIZE}
        release.set()
        await wait_until(lambda: len(handled) == 300)
        setup.reads.clear()
        await feed(conn, (300, 310), 10, lambda: len(handled))
        assert_full_after_the_pending_read(setup.reads)


async def test_a_pong_still_arrives_while_the_backlog_is_high() -> None:
    setup = Setup()
    async with setup.connect(backlog_limit=10) as nc:
        sub, conn = await _subscribed(setup, nc)
        await backlog(conn, sub, 100)
        setup.reads.clear()
        # Messages the application has not taken, then more in flight, then the PONG.
        await conn.send(messages(100, 1000))
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(nc.flush)
                assert await conn.read_line() == b"PING"
                await conn.send(b"PONG\r\n")
        assert sub.received == 1100 and sub.pending_msgs == 1100
        assert {asked for asked, _, _ in setup.reads} == {DEFAULT_BACKLOG_READ_SIZE}


async def test_backlog_limit_none_always_reads_full() -> None:
    setup = Setup()
    async with setup.connect(backlog_limit=None) as nc:
        sub, conn = await _subscribed(setup, nc)
        await feed(conn, range(0, 2000, 500), 500, lambda: sub.received)
        assert sub.pending_msgs == 2000
        assert {asked for asked, _, _ in setup.reads} == {READ_SIZE}


@pytest.mark.parametrize(("option", "value"), [("backlog_limit", 0), ("backlog_read_size", 0)])
async def test_pacing_options_out_of_range_are_refused(option: str, value: int) -> None:
    await assert_option_refused(option, value)


async def test_alive_is_answered_by_messages_while_the_pong_waits_behind_them() -> None:
    setup = Setup()
    async with setup.connect(backlog_limit=10) as nc:
        sub, conn = await _subscribed(setup, nc)
        await backlog(conn, sub, 100)
        # The server is busy sending what it holds: messages, no PONG yet.
        assert await alive_while_sending(nc, conn, messages(100, 10)) is True
        assert sub.received == 110


async def test_alive_is_answered_by_the_pong_when_idle() -> None:
    setup = Setup()
    async with setup.connect() as nc:
        conn = await setup.server.accept_handshake()
        assert await alive_while_sending(nc, conn, b"PONG\r\n") is True


async def test_alive_is_false_when_the_server_sends_nothing() -> None:
    setup = Setup()
    async with setup.connect() as nc:
        conn = await setup.server.accept_handshake()
        assert await nc.alive(timeout=0.05) is False
        assert await conn.read_line() == b"PING"
