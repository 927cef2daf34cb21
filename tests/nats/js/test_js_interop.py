"""JetStream interoperability with nats-py (run on asyncio in a worker thread), both ways."""

from __future__ import annotations

import pytest
from nats_helpers import in_nats_py

import nats as nats_py
from anystream.nats.js import JetStream
from nats.js import api

pytestmark = pytest.mark.anyio


async def test_stream_written_by_nats_py_is_consumed_by_us(
    js: JetStream, js_url: str, stream_name: str
) -> None:
    async def write() -> list[int]:
        nc = await nats_py.connect(js_url)
        theirs = nc.jetstream()
        await theirs.add_stream(name=stream_name, subjects=[f"{stream_name}.*"])
        seqs = []
        for i in range(20):
            ack = await theirs.publish(
                f"{stream_name}.{i % 2}", b"%d" % i, headers={"Nats-Msg-Id": f"id-{i}"}
            )
            seqs.append(ack.seq)
        await nc.close()
        return seqs

    assert await in_nats_py(write) == list(range(1, 21))
    pull = await js.pull_subscribe(f"{stream_name}.*", durable="ours")
    msgs = await pull.fetch(20, timeout=2)
    for msg in msgs:
        await msg.ack()
    assert [m.data for m in msgs] == [b"%d" % i for i in range(20)]
    assert msgs[3].headers == {"Nats-Msg-Id": "id-3"}
    push = await js.subscribe(f"{stream_name}.1", ordered_consumer=True)
    odd = [(await push.next_msg(timeout=2)).data for _ in range(10)]
    assert odd == [b"%d" % i for i in range(1, 20, 2)]
    await push.unsubscribe()


async def test_stream_written_by_us_is_consumed_by_nats_py(
    js: JetStream, js_url: str, stream_name: str
) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    for i in range(20):
        await js.publish(stream_name, b"%d" % i, headers={"Nats-Msg-Id": f"id-{i}"})
    assert (await js.publish(stream_name, b"0", headers={"Nats-Msg-Id": "id-0"})).duplicate

    async def read() -> tuple[list[bytes], list[bytes], int]:
        nc = await nats_py.connect(js_url)
        theirs = nc.jetstream()
        pull = await theirs.pull_subscribe(stream_name, durable="theirs")
        pulled = await pull.fetch(20, timeout=2)
        for msg in pulled:
            await msg.ack()
        push = await theirs.subscribe(stream_name, durable="theirs_push")
        pushed = [await push.next_msg(timeout=2) for _ in range(20)]
        for msg in pushed:
            await msg.ack_sync()
        info = await theirs.consumer_info(stream_name, "theirs_push")
        await nc.close()
        return [m.data for m in pulled], [m.data for m in pushed], info.ack_floor.stream_seq

    pulled, pushed, acked = await in_nats_py(read)
    expected = [b"%d" % i for i in range(20)]
    assert (pulled, pushed, acked) == (expected, expected, 20)


async def test_durable_created_by_nats_py_is_shared_with_us(
    js: JetStream, js_url: str, stream_name: str
) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    for i in range(10):
        await js.publish(stream_name, b"%d" % i)

    async def take_half() -> list[bytes]:
        nc = await nats_py.connect(js_url)
        pull = await nc.jetstream().pull_subscribe(
            stream_name, durable="shared", config=api.ConsumerConfig(ack_wait=30)
        )
        msgs = await pull.fetch(5, timeout=2)
        for msg in msgs:
            await msg.ack_sync()
        await nc.close()
        return [m.data for m in msgs]

    theirs = await in_nats_py(take_half)
    ours = await (await js.pull_subscribe(stream_name, durable="shared")).fetch(10, timeout=2)
    assert theirs + [m.data for m in ours] == [b"%d" % i for i in range(10)]
    assert ours[0].metadata.num_delivered == 1
