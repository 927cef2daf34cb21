"""JetStream acks leave with the client's next write, and never later than they must.

An ack does not wake the writer: it goes out in the same write as the command that
follows it (typically the pull request a consumer sends next), so a message costs one
write instead of two. It is not held back where that would change what the server sees:
it reaches the server when nothing follows it, when the client closes, before what is
published after it, and ahead of the next fetch. A stream wrapper around the real TCP
connection to a JetStream nats-server records the client's writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import nats.aio.msg
import pytest
from nats_helpers import fill, wait_until

from anystream import nats as anats
from anystream.nats.compat import Client as Facade
from anystream.nats.js import JetStream, JsMsg, PullSubscription
from nats.js import api

pytestmark = pytest.mark.anyio


class RecordedStream(anyio.abc.ByteStream):
    """The client's TCP stream, keeping every write."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.writes: list[bytes] = []

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        self.writes.append(bytes(item))
        await self.inner.send(item)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def recorded(url: str) -> AsyncIterator[tuple[anats.Client, list[bytes]]]:
    """A client whose writes are recorded (the list is the live record)."""
    streams: list[RecordedStream] = []

    async def connector(host: str, port: int) -> anyio.abc.ByteStream:
        streams.append(RecordedStream(await anyio.connect_tcp(host, port)))
        return streams[-1]

    async with anats.connect(url, connector=connector) as nc:
        yield nc, streams[0].writes


def writes_with(writes: list[bytes], needle: str) -> list[bytes]:
    return [w for w in writes if needle.encode() in w]


async def worker(js: JetStream, stream: str, ack_wait: float = 30) -> PullSubscription:
    return await js.pull_subscribe(
        stream, durable="worker", config=api.ConsumerConfig(ack_wait=ack_wait)
    )


async def acked_in_a_task(msg: JsMsg) -> None:
    """Ack in a task of its own, as faststream runs each handler: it ends before the fetch."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(msg.ack)


async def ack_pending(url: str, stream: str) -> int:
    """``num_ack_pending`` of the worker, asked on another connection."""
    async with anats.connect(url) as other:
        info = await JetStream(other).consumer_info(stream, "worker")
    return info.num_ack_pending


async def test_an_ack_and_the_next_pull_request_leave_in_one_write(
    js_url: str, stream_name: str
) -> None:
    async with recorded(js_url) as (nc, writes):
        js = JetStream(nc)
        await fill(js, stream_name, 3)
        sub = await worker(js, stream_name)
        msg = (await sub.fetch(1, timeout=2))[0]
        for expected in (b"1", b"2"):
            await acked_in_a_task(msg)
            msg = (await sub.fetch(1, timeout=2))[0]
            assert msg.data == expected
        acks = writes_with(writes, "$JS.ACK.")
        assert len(acks) == 2
        assert all(b"CONSUMER.MSG.NEXT" in w for w in acks)


async def test_an_ack_right_before_a_fetch_is_not_redelivered(
    js_url: str, stream_name: str
) -> None:
    async with anats.connect(js_url) as nc:
        js = JetStream(nc)
        await fill(js, stream_name, 1)
        sub = await worker(js, stream_name, ack_wait=0.5)
        msg = (await sub.fetch(1, timeout=2))[0]
        await acked_in_a_task(msg)
        with pytest.raises(anats.NatsTimeoutError):
            await sub.fetch(1, timeout=1)  # twice ack_wait: a lost ack would redeliver
        info = await sub.consumer_info()
        assert (info.num_ack_pending, info.num_redelivered, info.ack_floor.stream_seq) == (0, 0, 1)


async def test_a_lone_ack_reaches_the_server_with_no_further_traffic(
    js_url: str, stream_name: str
) -> None:
    async with recorded(js_url) as (nc, writes):
        js = JetStream(nc)
        await fill(js, stream_name, 1)
        sub = await worker(js, stream_name)
        msg = (await sub.fetch(1, timeout=2))[0]
        before = len(writes)
        await msg.ack()
        with anyio.fail_after(1):  # DEFER_LIMIT is 2 ms; the pinger waits 120 s
            await wait_until(lambda: len(writes) > before)
        assert b"$JS.ACK." in writes[before]
        assert await ack_pending(js_url, stream_name) == 0


async def test_an_ack_just_before_close_reaches_the_server(js_url: str, stream_name: str) -> None:
    async with anats.connect(js_url) as nc:
        js = JetStream(nc)
        await fill(js, stream_name, 1)
        msg = (await (await worker(js, stream_name)).fetch(1, timeout=2))[0]
        await msg.ack()
    assert await ack_pending(js_url, stream_name) == 0


async def test_acks_and_publishes_reach_the_server_in_the_order_made(
    js_url: str, stream_name: str
) -> None:
    acks, marks = f"$JS.ACK.{stream_name}.", f"{stream_name}-marks"
    async with anats.connect(js_url) as watcher, anats.connect(js_url) as nc:
        everything = await watcher.subscribe(">")
        await watcher.flush()
        js = JetStream(nc)
        await fill(js, stream_name, 3)
        msgs = await (await worker(js, stream_name)).fetch(3, timeout=2)
        for i, msg in enumerate(msgs):
            await msg.ack()
            await nc.publish(marks, b"%d" % i)
        seen = []
        with anyio.fail_after(5):
            while len(seen) < 6:
                subject = (await everything.next_msg()).subject
                if subject.startswith(acks) or subject == marks:
                    seen.append("mark" if subject == marks else "ack")
        # One publishing connection, one watching: the server relays in the order received.
        assert seen == ["ack", "mark"] * 3


async def test_nats_py_acks_through_the_facade_leave_with_the_next_pull_request(
    js_url: str, stream_name: str
) -> None:
    """What faststream's ``NatsBroker`` runs: nats-py's ``Msg.ack`` over the facade."""
    async with recorded(js_url) as (native, writes):
        await fill(JetStream(native), stream_name, 3)
        js = Facade(native).jetstream()
        sub = await js.pull_subscribe(stream_name, durable="worker")
        msg = (await sub.fetch(1, timeout=2))[0]
        for expected in (b"1", b"2"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(nats.aio.msg.Msg.ack, msg)
            assert msg.is_acked
            msg = (await sub.fetch(1, timeout=2))[0]
            assert msg.data == expected
        acks = writes_with(writes, "$JS.ACK.")
        assert len(acks) == 2
        assert all(b"CONSUMER.MSG.NEXT" in w for w in acks)
        await msg.nak()
        await native.flush()
        naks = writes_with(writes, "-NAK")
        assert len(naks) == 1 and b"$JS.ACK." in naks[0]
