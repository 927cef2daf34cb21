"""Pull consumers against a real nats-server -js: fetch, no_wait, expiry, max_bytes, iteration."""

from __future__ import annotations

import anyio
import pytest
from nats_helpers import fill

from anystream import nats
from anystream.nats import NatsTimeoutError
from anystream.nats.js import ConsumerDeletedError, FetchTimeoutError, JetStream, JsMsg
from anystream.testing import NatsServer
from nats.js import api

pytestmark = pytest.mark.anyio


async def test_fetch_returns_the_messages_available_and_acks_them(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 5)
    sub = await js.pull_subscribe(stream_name, durable="worker")
    msgs = await sub.fetch(10, timeout=2)
    assert [m.data for m in msgs] == [b"0", b"1", b"2", b"3", b"4"]
    assert all(isinstance(m, JsMsg) for m in msgs)
    for msg in msgs:
        await msg.ack_sync()
    info = await sub.consumer_info()
    assert (info.num_pending, info.num_ack_pending, info.ack_floor.stream_seq) == (0, 0, 5)


async def test_fetch_batch_at_a_time_in_order(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 7)
    sub = await js.pull_subscribe(stream_name, durable="worker")
    sizes = []
    seqs = []
    while sum(sizes) < 7:
        msgs = await sub.fetch(3, timeout=1)
        sizes.append(len(msgs))
        seqs += [m.metadata.sequence.stream for m in msgs]
        for msg in msgs:
            await msg.ack()
    assert (sizes, seqs) == ([3, 3, 1], list(range(1, 8)))


async def test_fetch_with_nothing_stored_times_out(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    sub = await js.pull_subscribe(stream_name, durable="worker")
    start = anyio.current_time()
    with pytest.raises(FetchTimeoutError) as caught:
        await sub.fetch(1, timeout=0.5)
    assert isinstance(caught.value, NatsTimeoutError)
    assert anyio.current_time() - start >= 0.4


async def test_fetch_no_wait_answers_at_once_when_empty(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    sub = await js.pull_subscribe(stream_name, durable="worker")
    with anyio.fail_after(2):  # far below the 30 s timeout: the server said "404 No Messages"
        with pytest.raises(FetchTimeoutError):
            await sub.fetch(5, timeout=30, no_wait=True)


async def test_fetch_waits_for_a_message_published_later(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    sub = await js.pull_subscribe(stream_name, durable="worker")

    async def publish_later() -> None:
        await anyio.sleep(0.3)
        await js.publish(stream_name, b"late")

    async with anyio.create_task_group() as tg:
        tg.start_soon(publish_later)
        msgs = await sub.fetch(1, timeout=5, heartbeat=0.5)
    assert [m.data for m in msgs] == [b"late"]


async def test_fetch_stops_at_max_bytes(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 5, size=1000)
    sub = await js.pull_subscribe(stream_name, durable="worker")
    msgs = await sub.fetch(5, timeout=2, max_bytes=2500)
    assert 1 <= len(msgs) <= 2
    rest = await sub.fetch(5, timeout=2)
    assert len(msgs) + len(rest) == 5


async def test_unacked_messages_are_redelivered_after_ack_wait(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 1)
    sub = await js.pull_subscribe(
        stream_name, durable="worker", config=api.ConsumerConfig(ack_wait=0.3)
    )
    first = (await sub.fetch(1, timeout=1))[0]
    again = (await sub.fetch(1, timeout=3))[0]
    assert first.metadata.sequence.stream == again.metadata.sequence.stream == 1
    assert (first.metadata.num_delivered, again.metadata.num_delivered) == (1, 2)


async def test_two_pull_subscriptions_share_a_durable(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 10)
    one = await js.pull_subscribe(stream_name, durable="worker")
    two = await js.pull_subscribe(stream_name, durable="worker")
    got = [m.data for m in await one.fetch(4, timeout=1)]
    got += [m.data for m in await two.fetch(10, timeout=1)]
    assert sorted(got) == sorted(str(i).encode() for i in range(10))


async def test_ephemeral_pull_consumer(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 2)
    sub = await js.pull_subscribe(stream_name)
    assert len(await sub.fetch(2, timeout=1)) == 2
    assert (await sub.consumer_info()).config.durable_name is None


async def test_messages_iterates_everything_published(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 25)
    sub = await js.pull_subscribe(stream_name, durable="worker")
    seen = []
    with anyio.fail_after(10):
        async for msg in sub.messages(batch=10, timeout=1):
            seen.append(int(msg.data))
            await msg.ack()
            if len(seen) == 25:
                break
    assert seen == list(range(25))


async def test_fetch_on_a_deleted_consumer_raises(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    sub = await js.pull_subscribe(stream_name, durable="worker")

    async def delete_soon() -> None:
        await anyio.sleep(0.3)
        await js.delete_consumer(stream_name, "worker")

    async with anyio.create_task_group() as tg:
        tg.start_soon(delete_soon)
        with pytest.raises(ConsumerDeletedError):
            await sub.fetch(1, timeout=5)


async def test_pull_subscribe_to_a_push_consumer_is_refused(
    js: JetStream, stream_name: str
) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    await js.add_consumer(stream_name, durable_name="pushed", deliver_subject="somewhere")
    with pytest.raises(Exception, match="push consumer"):
        await js.pull_subscribe(stream_name, durable="pushed")


async def test_fetch_with_heartbeats_gives_up_when_the_server_goes_silent(
    stream_name: str,
) -> None:
    # A frozen server sends no heartbeat: the fetch ends after two missed ones, long
    # before its 30 s timeout, instead of waiting on a request that is lost.
    server = NatsServer(jetstream=True).start()
    try:
        async with nats.connect(server.url) as nc:
            js = JetStream(nc)
            await js.add_stream(name=stream_name, subjects=[stream_name])
            sub = await js.pull_subscribe(stream_name, durable="worker")

            async def freeze_soon() -> None:
                await anyio.sleep(0.5)  # a few heartbeats arrive first
                server.pause()

            async with anyio.create_task_group() as tg:
                tg.start_soon(freeze_soon)
                with anyio.fail_after(10), pytest.raises(FetchTimeoutError):
                    await sub.fetch(1, timeout=30, heartbeat=0.2)
            server.resume()
    finally:
        server.close()


async def test_pull_subscription_under_an_inbox_prefix(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 1)
    spy = await js.client.subscribe("_MY_INBOX.>")  # sees what is delivered under it
    sub = await js.pull_subscribe(stream_name, durable="worker", inbox_prefix=b"_MY_INBOX.")
    msgs = await sub.fetch(1, timeout=2)
    assert msgs[0].data == b"0"
    assert (await spy.next_msg(timeout=2)).data == b"0"


async def test_pull_subscribe_bind_uses_the_consumer_as_it_is(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 3)
    await js.add_consumer(stream_name, durable_name="made", ack_policy="explicit")
    sub = await js.pull_subscribe_bind(durable="made", stream=stream_name)
    msgs = await sub.fetch(5, timeout=1)
    assert [m.metadata.consumer for m in msgs] == ["made"] * 3
    with pytest.raises(ValueError, match="needs the stream"):
        await js.pull_subscribe_bind(durable="made")
