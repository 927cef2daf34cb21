"""Streams, consumers, stored messages and publish acks against a real nats-server -js."""

from __future__ import annotations

import anyio
import pytest

from anystream import nats
from anystream.nats import ConnectionClosedError, NatsTimeoutError
from anystream.nats.js import (
    APITimeoutError,
    ConsumerNotFoundError,
    JetStream,
    JetStreamNotEnabledError,
    MsgNotFoundError,
    NoStreamResponseError,
    StreamNameAlreadyInUseError,
    StreamNotFoundError,
    TooManyStalledMsgsError,
    WrongLastMsgIdError,
    WrongLastSequenceError,
)
from anystream.nats.js.publish import AsyncPublisher
from anystream.testing import NatsServer
from nats.js import api

pytestmark = pytest.mark.anyio


async def test_add_stream_then_info_shows_its_config_and_messages(
    js: JetStream, stream_name: str
) -> None:
    info = await js.add_stream(name=stream_name, subjects=[f"{stream_name}.>"])
    assert isinstance(info, api.StreamInfo)
    assert info.config.subjects == [f"{stream_name}.>"]
    await js.publish(f"{stream_name}.a", b"1")
    await js.publish(f"{stream_name}.b", b"2")
    info = await js.stream_info(stream_name)
    assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 1, 2)
    assert await js.find_stream_name_by_subject(f"{stream_name}.x") == stream_name
    assert stream_name in [s.config.name for s in await js.streams_info()]


async def test_update_stream_changes_its_limits(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    info = await js.update_stream(name=stream_name, subjects=[stream_name], max_msgs=5)
    assert info.config.max_msgs == 5


async def test_adding_a_stream_again_with_another_config_is_refused(
    js: JetStream, stream_name: str
) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    with pytest.raises(StreamNameAlreadyInUseError):
        await js.add_stream(name=stream_name, subjects=[f"{stream_name}.other"])


async def test_unknown_stream_raises_stream_not_found(js: JetStream) -> None:
    with pytest.raises(StreamNotFoundError) as caught:
        await js.stream_info("NO_SUCH_STREAM")
    assert caught.value.code == 404 and caught.value.err_code == 10059


async def test_delete_stream_removes_it(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    assert await js.delete_stream(stream_name) is True
    with pytest.raises(StreamNotFoundError):
        await js.delete_stream(stream_name)


async def test_invalid_stream_name_is_refused_before_any_request(js: JetStream) -> None:
    with pytest.raises(ValueError, match="invalid stream name"):
        await js.add_stream(name="has.dots", subjects=["x"])


async def test_publish_returns_the_pub_ack(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    ack = await js.publish(stream_name, b"hello", headers={"K": "v"})
    assert isinstance(ack, api.PubAck)
    assert (ack.stream, ack.seq, ack.duplicate) == (stream_name, 1, None)
    stored = await js.get_msg(stream_name, 1)
    assert (stored.data, stored.subject, stored.headers) == (b"hello", stream_name, {"K": "v"})


async def test_publish_with_the_same_msg_id_is_stored_once(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    first = await js.publish(stream_name, b"1", headers={"Nats-Msg-Id": "order-1"})
    again = await js.publish(stream_name, b"1", headers={"Nats-Msg-Id": "order-1"})
    assert (first.seq, first.duplicate) == (1, None)
    assert (again.seq, again.duplicate) == (1, True)
    assert (await js.stream_info(stream_name)).state.messages == 1


async def test_expected_last_sequence_refuses_a_concurrent_write(
    js: JetStream, stream_name: str
) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    await js.publish(stream_name, b"1", headers={"Nats-Expected-Last-Sequence": "0"})
    with pytest.raises(WrongLastSequenceError):
        await js.publish(stream_name, b"2", headers={"Nats-Expected-Last-Sequence": "0"})
    ack = await js.publish(stream_name, b"2", headers={"Nats-Expected-Last-Sequence": "1"})
    assert ack.seq == 2


async def test_expected_last_msg_id_refuses_a_mismatch(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    await js.publish(stream_name, b"1", headers={"Nats-Msg-Id": "a"})
    with pytest.raises(WrongLastMsgIdError):
        await js.publish(stream_name, b"2", headers={"Nats-Expected-Last-Msg-Id": "b"})


async def test_publish_to_a_subject_no_stream_captures_raises(js: JetStream) -> None:
    with pytest.raises(NoStreamResponseError):
        await js.publish("no.stream.here", b"x")


async def test_publish_with_an_expected_stream_name(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    assert (await js.publish(stream_name, b"x", stream=stream_name)).seq == 1
    with pytest.raises(Exception, match="expected stream"):
        await js.publish(stream_name, b"x", stream="OTHER")


async def test_publish_async_acks_arrive_in_order(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    futures = [await js.publish_async(stream_name, str(i).encode()) for i in range(200)]
    await js.publish_async_completed(timeout=5)
    assert js.publish_async_pending() == 0
    assert [(await f).seq for f in futures] == list(range(1, 201))


async def test_get_last_msg_and_delete_msg(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[f"{stream_name}.*"], allow_direct=True)
    await js.publish(f"{stream_name}.a", b"a1")
    await js.publish(f"{stream_name}.b", b"b1")
    await js.publish(f"{stream_name}.a", b"a2")
    assert (await js.get_last_msg(stream_name, f"{stream_name}.a")).data == b"a2"
    direct = await js.get_last_msg(stream_name, f"{stream_name}.a", direct=True)
    assert (direct.data, direct.seq) == (b"a2", 3)
    assert direct.time is not None and direct.time.tzinfo is not None
    following = await js.get_msg(stream_name, seq=2, subject=f"{stream_name}.a", next=True)
    assert following.seq == 3
    assert await js.delete_msg(stream_name, 1) is True
    with pytest.raises(MsgNotFoundError):
        await js.get_msg(stream_name, 1)
    with pytest.raises(MsgNotFoundError):
        await js.get_msg(stream_name, 1, direct=True)


async def test_purge_stream_by_subject_keeps_the_rest(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[f"{stream_name}.*"])
    for subject in ("a", "a", "b"):
        await js.publish(f"{stream_name}.{subject}", b"x")
    assert await js.purge_stream(stream_name, subject=f"{stream_name}.a") is True
    assert (await js.stream_info(stream_name)).state.messages == 1
    assert await js.purge_stream(stream_name) is True
    assert (await js.stream_info(stream_name)).state.messages == 0


async def test_consumer_add_info_delete(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    await js.publish(stream_name, b"x")
    info = await js.add_consumer(stream_name, durable_name="worker", ack_policy="explicit")
    assert (info.name, info.num_pending) == ("worker", 1)
    assert (await js.consumer_info(stream_name, "worker")).config.durable_name == "worker"
    assert [c.name for c in await js.consumers_info(stream_name)] == ["worker"]
    assert await js.delete_consumer(stream_name, "worker") is True
    with pytest.raises(ConsumerNotFoundError):
        await js.consumer_info(stream_name, "worker")


async def test_account_info_counts_streams(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    info = await js.account_info()
    assert isinstance(info, api.AccountInfo)
    assert info.streams >= 1


async def test_server_without_jetstream_says_so(nats_server: NatsServer) -> None:
    async with nats.connect(nats_server.url) as nc:
        with pytest.raises(JetStreamNotEnabledError, match="JetStream"):
            await JetStream(nc).account_info()


async def test_publish_async_without_a_stream_fails_its_future(js: JetStream) -> None:
    future = await js.publish_async("no.stream.here", b"x")
    with pytest.raises(NoStreamResponseError):
        await future.result(timeout=5)


async def test_publish_async_waits_for_room_then_gives_up(js: JetStream, subject: str) -> None:
    # A core subscriber takes the messages and never acks: the window stays full.
    await js.client.subscribe(subject)
    publisher = AsyncPublisher(js.client, max_pending=2)
    for _ in range(2):
        await publisher.publish(subject, b"x", headers=None, wait_stall=None)
    with pytest.raises(TooManyStalledMsgsError):
        await publisher.publish(subject, b"x", headers=None, wait_stall=0.2)
    assert publisher.pending == 2


async def test_a_silent_server_gives_a_jetstream_timeout(stream_name: str) -> None:
    server = NatsServer(jetstream=True).start()
    try:
        async with nats.connect(server.url) as nc:
            await JetStream(nc).add_stream(name=stream_name, subjects=[stream_name])
            js = JetStream(nc, timeout=0.3)
            server.pause()
            with pytest.raises(APITimeoutError, match="did not answer"):
                await js.stream_info(stream_name)
            with pytest.raises(NatsTimeoutError, match="no ack"):
                await js.publish(stream_name, b"x")
            server.resume()
    finally:
        server.close()


async def test_a_message_with_a_ttl_expires(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name], allow_msg_ttl=True)
    await js.publish(stream_name, b"short-lived", msg_ttl=1)
    await js.publish(stream_name, b"kept")
    assert (await js.stream_info(stream_name)).state.messages == 2
    with anyio.fail_after(5):
        while (await js.stream_info(stream_name)).state.messages != 1:
            await anyio.sleep(0.1)
    assert (await js.get_msg(stream_name, 2)).data == b"kept"


async def test_publish_async_futures_fail_when_the_connection_closes(
    js_url: str, subject: str
) -> None:
    async with nats.connect(js_url) as nc:
        await nc.subscribe(subject)  # takes the message, never acks
        future = await JetStream(nc).publish_async(subject, b"x")
    with pytest.raises(ConnectionClosedError):
        await future.result(timeout=5)
