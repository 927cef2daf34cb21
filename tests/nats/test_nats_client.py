"""The client against a real nats-server, on asyncio and trio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from nats_helpers import config_server, wait_until

from anystream import nats
from anystream.nats import (
    BadSubjectError,
    ConnectionClosedError,
    MaxPayloadError,
    Msg,
    NatsTimeoutError,
    NoRespondersError,
    NoServersError,
    SlowConsumerError,
)
from anystream.testing import NatsServer, free_port

pytestmark = pytest.mark.anyio


async def test_published_message_arrives_with_headers_and_reply(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("orders.*")
        await nc.publish("orders.new", b"42", reply="answers", headers={"Trace": "t-1"})
        msg = await sub.next_msg(timeout=2)
    assert msg.subject == "orders.new"
    assert msg.data == b"42"
    assert msg.reply == "answers"
    assert msg.headers == {"Trace": "t-1"}


async def test_repeated_header_keys_are_all_delivered(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("h")
        await nc.publish("h", b"", headers={"Tag": ["a", "b"]})
        msg = await sub.next_msg(timeout=2)
    assert msg.header_pairs == (("Tag", "a"), ("Tag", "b"))


async def test_subscription_is_an_async_iterator(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("numbers", max_msgs=5)
        for i in range(5):
            await nc.publish("numbers", str(i).encode())
        got = [msg.data async for msg in sub]
    assert got == [b"0", b"1", b"2", b"3", b"4"]


async def test_callback_subscription_receives_every_message(nats_url: str) -> None:
    received: list[bytes] = []

    async def handler(msg: Msg) -> None:
        received.append(msg.data)

    async with nats.connect(nats_url) as nc:
        await nc.subscribe("cb", cb=handler)
        for i in range(10):
            await nc.publish("cb", b"%d" % i)
        await wait_until(lambda: len(received) == 10)
    assert received == [b"%d" % i for i in range(10)]


async def test_queue_group_splits_messages_without_duplicates(nats_url: str) -> None:
    got: dict[str, list[bytes]] = {"a": [], "b": []}

    def collector(name: str) -> nats.subscription.MsgCallback:
        async def collect(msg: Msg) -> None:
            got[name].append(msg.data)

        return collect

    async with nats.connect(nats_url) as nc:
        await nc.subscribe("work", "workers", cb=collector("a"))
        await nc.subscribe("work", "workers", cb=collector("b"))
        await nc.flush()
        for i in range(200):
            await nc.publish("work", b"%d" % i)
        await wait_until(lambda: len(got["a"]) + len(got["b"]) == 200)
        await nc.flush()
    everything = got["a"] + got["b"]
    assert sorted(everything) == sorted(b"%d" % i for i in range(200))
    assert got["a"] and got["b"]


async def test_request_reply_through_one_shared_inbox(nats_url: str) -> None:
    async def double(msg: Msg) -> None:
        await msg.respond(str(int(msg.data) * 2).encode())

    async with nats.connect(nats_url) as nc:
        await nc.subscribe("double", cb=double)
        before = nc.subscriptions
        replies: dict[int, bytes] = {}

        async def ask(i: int) -> None:
            replies[i] = (await nc.request("double", b"%d" % i, timeout=5)).data

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(ask, i)
        assert nc.subscriptions == before + 1  # one inbox, whatever the number of requests
    assert replies == {i: b"%d" % (2 * i) for i in range(50)}


async def test_request_without_responders_raises_no_responders(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        with pytest.raises(NoRespondersError, match=r"nobody\.home"):
            await nc.request("nobody.home", b"?", timeout=5)


async def test_request_with_a_silent_responder_times_out(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        await nc.subscribe("silent")
        with pytest.raises(NatsTimeoutError):
            await nc.request("silent", b"?", timeout=0.2)
        with pytest.raises(TimeoutError):  # also a builtin TimeoutError
            await nc.request("silent", b"?", timeout=0.05)


async def test_flush_returns_the_round_trip_time(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        rtt = await nc.flush()
    assert 0 < rtt < 5


async def test_auto_unsubscribe_after_n_messages(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("limited")
        await sub.unsubscribe(limit=3)
        for i in range(6):
            await nc.publish("limited", b"%d" % i)
        got = [msg.data async for msg in sub]
        assert got == [b"0", b"1", b"2"]
        assert sub.closed


async def test_unsubscribe_stops_delivery_and_ends_iteration(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("stop")
        await nc.publish("stop", b"before")
        await nc.flush()
        await sub.unsubscribe()
        await nc.publish("stop", b"after")
        await nc.flush()
        got = [msg.data async for msg in sub]
    assert got == [b"before"]


async def test_subscription_context_manager_unsubscribes(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        async with await nc.subscribe("scoped") as sub:
            await nc.publish("scoped", b"x")
            assert (await sub.next_msg(timeout=2)).data == b"x"
        assert sub.closed


async def test_drain_processes_messages_in_flight_then_closes(nats_url: str) -> None:
    processed: list[bytes] = []

    async def slow(msg: Msg) -> None:
        await anyio.sleep(0.005)
        processed.append(msg.data)

    async with nats.connect(nats_url) as nc:
        await nc.subscribe("drain.me", cb=slow)
        await nc.flush()
        async with nats.connect(nats_url) as producer:
            for i in range(30):
                await producer.publish("drain.me", b"%d" % i)
            await producer.flush()
        await nc.drain(timeout=10)
        assert nc.is_closed
        with pytest.raises(ConnectionClosedError):
            await nc.publish("drain.me", b"late")
    assert processed == [b"%d" % i for i in range(30)]


async def test_subscription_drain_keeps_the_connection_open(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("sub.drain", cb=lambda msg: anyio.lowlevel.checkpoint())
        await nc.publish("sub.drain", b"x")
        await sub.drain(timeout=5)
        assert sub.closed and nc.is_connected
        await nc.flush()


async def test_invalid_subject_is_refused_before_sending(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        with pytest.raises(BadSubjectError, match="whitespace"):
            await nc.publish("has space", b"")
        with pytest.raises(BadSubjectError):
            await nc.subscribe("a..b")
        assert await nc.flush() > 0  # the connection is still fine


async def test_payload_over_max_payload_is_refused(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        too_big = b"x" * (nc.max_payload + 1)
        with pytest.raises(MaxPayloadError, match="max_payload"):
            await nc.publish("big", too_big)
        assert await nc.flush() > 0


async def test_closed_connection_refuses_every_operation(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("x")
        await nc.close()
        assert nc.is_closed and sub.closed
        with pytest.raises(ConnectionClosedError, match="closed"):
            await nc.publish("x", b"")
        with pytest.raises(ConnectionClosedError):
            await nc.subscribe("x")
        with pytest.raises(ConnectionClosedError):
            await nc.request("x")
        with pytest.raises(ConnectionClosedError):
            await nc.flush()


async def test_publishes_just_before_leaving_are_flushed(nats_url: str) -> None:
    async with nats.connect(nats_url) as consumer:
        sub = await consumer.subscribe("last.words")
        await consumer.flush()
        async with nats.connect(nats_url) as nc:
            for i in range(1000):
                await nc.publish("last.words", b"%d" % i)
        got = [(await sub.next_msg(timeout=5)).data for _ in range(1000)]
    assert got[-1] == b"999"


async def test_cancelling_the_block_closes_cleanly(nats_url: str) -> None:
    with anyio.move_on_after(0.2) as scope:
        async with nats.connect(nats_url) as nc:
            sub = await nc.subscribe("never")
            await sub.next_msg()
    assert scope.cancelled_caught
    assert nc.is_closed


async def test_exception_in_the_block_propagates_unwrapped(nats_url: str) -> None:
    with pytest.raises(KeyError):
        async with nats.connect(nats_url):
            raise KeyError("boom")


async def test_slow_consumer_drops_messages_and_reports_an_error(nats_url: str) -> None:
    errors: list[Exception] = []
    async with nats.connect(nats_url, error_cb=errors.append) as nc:
        sub = await nc.subscribe("firehose", pending_msgs_limit=10)
        for i in range(50):
            await nc.publish("firehose", b"%d" % i)
        await nc.flush()
        await wait_until(lambda: bool(errors))
        assert sub.pending_msgs == 10
        assert sub.dropped == 40
        got = [(await sub.next_msg(timeout=1)).data for _ in range(10)]
    assert got == [b"%d" % i for i in range(10)]
    assert isinstance(errors[0], SlowConsumerError)
    assert "firehose" in str(errors[0])


async def test_pending_bytes_limit_bounds_the_queue(nats_url: str) -> None:
    async with nats.connect(nats_url, error_cb=lambda exc: None) as nc:
        sub = await nc.subscribe("bytes", pending_bytes_limit=1000)
        for _ in range(20):
            await nc.publish("bytes", b"x" * 100)
        await nc.flush()
        await wait_until(lambda: sub.received == 20)
        assert sub.pending_bytes == 1000 and sub.dropped == 10


async def test_statistics_count_messages_and_bytes(nats_url: str) -> None:
    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("stats")
        for _ in range(4):
            await nc.publish("stats", b"abc")
        for _ in range(4):
            await sub.next_msg(timeout=2)
        stats = nc.stats
    assert (stats.out_msgs, stats.out_bytes) == (4, 12)
    assert (stats.in_msgs, stats.in_bytes) == (4, 12)
    assert stats.reconnects == 0


async def test_no_server_reachable_raises_no_servers() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(NoServersError, match="could not connect"):
        async with nats.connect(url, connect_timeout=1):
            pass


async def test_echo_off_does_not_deliver_own_messages(nats_url: str) -> None:
    async with nats.connect(nats_url, echo=False) as nc:
        sub = await nc.subscribe("echo")
        await nc.publish("echo", b"me")
        await nc.flush()
        with pytest.raises(NatsTimeoutError):
            await sub.next_msg(timeout=0.1)


async def test_max_payload_comes_from_the_server(
    tmp_path: Path, server_factory: Callable[[NatsServer], NatsServer]
) -> None:
    server = server_factory(config_server(tmp_path, "max_payload: 1024"))
    async with nats.connect(server.url) as nc:
        assert nc.max_payload == 1024
        await nc.publish("fits", b"x" * 1024)
        with pytest.raises(MaxPayloadError, match="1025 bytes"):
            await nc.publish("too.big", b"x" * 1025)
        with pytest.raises(MaxPayloadError):
            await nc.publish("too.big", b"x" * 1000, headers={"Pad": "y" * 30})
