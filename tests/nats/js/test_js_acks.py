"""Message acknowledgements: ack, ack_sync, nak (with delay), in_progress, term, metadata."""

from __future__ import annotations

import anyio
import pytest

from anystream import nats
from anystream.nats.js import (
    JetStream,
    JsMsg,
    MsgAlreadyAckdError,
    NotJSMessageError,
    PullSubscription,
)
from nats.js import api

pytestmark = pytest.mark.anyio


async def one_message(
    js: JetStream, stream: str, ack_wait: float = 30
) -> tuple[JsMsg, PullSubscription]:
    await js.add_stream(name=stream, subjects=[stream])
    await js.publish(stream, b"job")
    sub = await js.pull_subscribe(
        stream, durable="worker", config=api.ConsumerConfig(ack_wait=ack_wait)
    )
    return (await sub.fetch(1, timeout=2))[0], sub


async def test_metadata_describes_the_delivery(js: JetStream, stream_name: str) -> None:
    msg, _ = await one_message(js, stream_name)
    meta = msg.metadata
    assert (meta.stream, meta.consumer) == (stream_name, "worker")
    assert (meta.sequence.stream, meta.sequence.consumer) == (1, 1)
    assert (meta.num_delivered, meta.num_pending) == (1, 0)
    assert meta.timestamp.year >= 2024


async def test_a_second_ack_is_refused(js: JetStream, stream_name: str) -> None:
    msg, _ = await one_message(js, stream_name)
    await msg.ack()
    assert msg.is_acked
    for second in (msg.ack, msg.nak, msg.term, msg.ack_sync):
        with pytest.raises(MsgAlreadyAckdError):
            await second()


async def test_ack_sync_waits_for_the_server(js: JetStream, stream_name: str) -> None:
    msg, sub = await one_message(js, stream_name)
    await msg.ack_sync(timeout=2)
    info = await sub.consumer_info()
    assert (info.num_ack_pending, info.ack_floor.stream_seq) == (0, 1)


async def test_nak_redelivers_at_once(js: JetStream, stream_name: str) -> None:
    msg, sub = await one_message(js, stream_name)
    await msg.nak()
    again = (await sub.fetch(1, timeout=2))[0]
    assert (again.data, again.metadata.num_delivered) == (b"job", 2)


async def test_nak_with_delay_redelivers_later(js: JetStream, stream_name: str) -> None:
    msg, sub = await one_message(js, stream_name)
    await msg.nak(delay=0.5)
    start = anyio.current_time()
    again = (await sub.fetch(1, timeout=3))[0]
    assert anyio.current_time() - start >= 0.4
    assert again.metadata.num_delivered == 2


async def test_in_progress_holds_off_redelivery(js: JetStream, stream_name: str) -> None:
    msg, sub = await one_message(js, stream_name, ack_wait=1.5)
    for _ in range(6):  # 2.4 s of work, well past ack_wait, announced every 0.4 s
        await anyio.sleep(0.4)
        await msg.in_progress()
    assert not msg.is_acked
    with pytest.raises(nats.NatsTimeoutError):
        await sub.fetch(1, timeout=0.5)
    await msg.ack_sync()


async def test_term_stops_redelivery(js: JetStream, stream_name: str) -> None:
    msg, sub = await one_message(js, stream_name, ack_wait=0.3)
    await msg.term()
    with pytest.raises(nats.NatsTimeoutError):
        await sub.fetch(1, timeout=1)


async def test_a_core_message_cannot_be_acked(js: JetStream, subject: str) -> None:
    plain = JsMsg.of(js.client, nats.Msg(js.client, subject, None, b"x"))
    with pytest.raises(NotJSMessageError):
        await plain.ack()
    with pytest.raises(NotJSMessageError):
        plain.metadata  # noqa: B018
