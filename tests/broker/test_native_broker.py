"""``anystream.nats.NatsBroker``: faststream's NATS broker on anystream's own client.

Every scenario runs on asyncio and trio against a real ``nats-server -js``; on trio no
asyncio is involved (``trio_asyncio`` is never imported) and handlers run in trio.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import sniffio
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, KvWatch, ObjWatch, PullSub, TestNatsBroker
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg as NatsPyMsg

from anystream.nats import NatsBroker
from anystream.nats.compat import Client as CompatClient
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio


def stream_for(subject: str) -> JStream:
    return JStream(name=subject.replace(".", "-").upper(), subjects=[f"{subject}.>"])


@pytest.fixture(autouse=True)
def no_bridge() -> Iterator[None]:
    yield
    assert "trio_asyncio" not in sys.modules, "NATS must not need trio-asyncio"


async def test_core_subscribe_publish_and_request_run_handlers_on_the_app_backend(
    js_url: str, subject: str, anyio_backend_name: str
) -> None:
    broker = NatsBroker(js_url)
    seen: list[tuple[str, str]] = []

    @broker.subscriber(f"{subject}.in")
    async def record(body: str) -> None:
        async with anyio.create_task_group() as tg:  # structured concurrency in a handler
            tg.start_soon(anyio.sleep, 0)
        seen.append((body, sniffio.current_async_library()))

    @broker.subscriber(f"{subject}.rpc")
    async def echo(body: str) -> str:
        return body.upper()

    async with broker:
        await broker.start()
        await broker.publish("hello", f"{subject}.in")
        reply = await broker.request("ping", f"{subject}.rpc", timeout=3)
        assert await reply.decode() == "PING"
        await wait_until(lambda: seen == [("hello", anyio_backend_name)])
        assert isinstance(broker.connection, CompatClient)


async def test_a_request_nobody_listens_to_fails_as_with_nats_py(js_url: str, subject: str) -> None:
    import nats.errors

    broker = NatsBroker(js_url)
    async with broker:
        with pytest.raises(nats.errors.NoRespondersError):
            await broker.request("anyone?", f"{subject}.nobody", timeout=2)


async def test_raw_messages_are_nats_py_messages(js_url: str, subject: str) -> None:
    broker = NatsBroker(js_url)
    raw: list[object] = []

    @broker.subscriber(subject)
    async def record(body: str, message: NatsMessage) -> None:
        raw.append(message.raw_message)

    async with broker:
        await broker.start()
        await broker.publish("x", subject, headers={"k": "v"})
        await wait_until(lambda: len(raw) == 1)
    msg = raw[0]
    assert isinstance(msg, NatsPyMsg)
    assert (msg.subject, msg.data, msg.headers["k"]) == (subject, b"x", "v")


async def test_jetstream_push_pull_and_batch_subscribers_consume_and_ack(
    js_url: str, subject: str
) -> None:
    broker = NatsBroker(js_url)
    stream = stream_for(subject)
    got: dict[str, list[object]] = {"push": [], "pull": [], "batch": []}

    @broker.subscriber(f"{subject}.push", stream=stream, durable="pusher")
    async def on_push(body: str) -> None:
        got["push"].append(body)

    @broker.subscriber(f"{subject}.pull", stream=stream, durable="puller", pull_sub=PullSub(10))
    async def on_pull(body: str) -> None:
        got["pull"].append(body)

    @broker.subscriber(
        f"{subject}.batch",
        stream=stream,
        durable="batcher",
        pull_sub=PullSub(batch_size=5, timeout=0.3, batch=True),
    )
    async def on_batch(body: list[str]) -> None:
        got["batch"].extend(body)

    async with broker:
        await broker.start()
        for kind in got:
            for i in range(3):
                ack = await broker.publish(f"{kind}{i}", f"{subject}.{kind}", stream=stream.name)
                assert ack.stream == stream.name
        await wait_until(lambda: all(len(v) == 3 for v in got.values()))
        js = broker.config.connection_state.stream
        with anyio.fail_after(5):
            for durable in ("pusher", "puller", "batcher"):
                while (await js.consumer_info(stream.name, durable)).num_ack_pending:
                    await anyio.sleep(0.05)
    assert sorted(got["push"]) == ["push0", "push1", "push2"]
    assert sorted(got["batch"]) == ["batch0", "batch1", "batch2"]


async def test_a_jetstream_message_nacked_on_error_is_redelivered(
    js_url: str, subject: str
) -> None:
    broker = NatsBroker(js_url)
    stream = stream_for(subject)
    attempts: list[int] = []

    @broker.subscriber(
        f"{subject}.work",
        stream=stream,
        durable="flaky",
        pull_sub=PullSub(1),
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def flaky(body: str) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first try fails")

    async with broker:
        await broker.start()
        await broker.publish("job", f"{subject}.work", stream=stream.name)
        await wait_until(lambda: len(attempts) == 2)


async def test_key_value_and_object_store_watchers_see_updates(js_url: str, subject: str) -> None:
    broker = NatsBroker(js_url)
    bucket = subject.replace(".", "-")
    kv_seen: list[bytes] = []
    os_seen: list[str] = []

    @broker.subscriber("greeting", kv_watch=KvWatch(f"{bucket}-kv"))
    async def on_kv(body: bytes) -> None:
        kv_seen.append(body)

    @broker.subscriber(f"{bucket}-os", obj_watch=ObjWatch())  # the subject is the bucket
    async def on_obj(body: str) -> None:
        os_seen.append(body)

    async with broker:
        await broker.start()
        kv = await broker.key_value(f"{bucket}-kv")
        await kv.put("greeting", b"hello")
        assert (await kv.get("greeting")).value == b"hello"
        store = await broker.object_storage(f"{bucket}-os")
        await store.put("report.txt", b"data" * 1000)
        assert (await store.get("report.txt")).data == b"data" * 1000
        await wait_until(lambda: kv_seen == [b"hello"] and os_seen == ["report.txt"])


async def test_missing_keys_raise_nats_py_errors(js_url: str, subject: str) -> None:
    import nats.js.errors

    broker = NatsBroker(js_url)
    async with broker:
        kv = await broker.key_value(subject.replace(".", "-"))
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await kv.get("missing")


async def test_max_workers_runs_handlers_concurrently(js_url: str, subject: str) -> None:
    broker = NatsBroker(js_url)
    running = peak = done = 0

    @broker.subscriber(subject, max_workers=4)
    async def slow(body: int) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.1)
        running -= 1
        done += 1

    async with broker:
        await broker.start()
        for i in range(8):
            await broker.publish(i, subject)
        await wait_until(lambda: done == 8)
    assert peak > 1


async def test_stop_waits_for_a_handler_in_flight(js_url: str, subject: str) -> None:
    broker = NatsBroker(js_url, graceful_timeout=5)
    started = anyio.Event()
    finished: list[str] = []

    @broker.subscriber(subject)
    async def slow(body: str) -> None:
        started.set()
        await anyio.sleep(0.3)
        finished.append(body)

    await broker.start()
    await broker.publish("work", subject)
    with anyio.fail_after(5):
        await started.wait()
    await broker.stop()
    assert finished == ["work"]
    assert broker._connection is None


async def test_driver_objects_work_from_any_task(js_url: str, subject: str) -> None:
    broker = NatsBroker(js_url)
    results: list[object] = []

    async with broker:
        kv = await broker.key_value(subject.replace(".", "-"))

        async def elsewhere() -> None:  # another task than the one that connected
            await broker.connection.flush()
            await kv.put("k", b"v")
            results.append((await kv.get("k")).value)
            results.append(await broker.connection.jetstream().account_info())

        async with anyio.create_task_group() as tg:
            tg.start_soon(elsewhere)
    assert results[0] == b"v"


async def test_the_test_client_runs_handlers_in_memory(anyio_backend_name: str) -> None:
    broker = NatsBroker()
    seen: list[str] = []

    @broker.subscriber("in")
    async def handle(body: str) -> str:
        seen.append(body)
        return body[::-1]

    async with TestNatsBroker(broker) as br:
        await br.publish("hello", "in")
        handle.mock.assert_called_once_with("hello")
        reply = await br.request("abc", "in")
        assert await reply.decode() == "cba"
    assert seen == ["hello", "abc"]


async def test_an_unreachable_server_fails_the_start_with_nats_py_s_error() -> None:
    import nats.errors

    from anystream.testing import free_port

    broker = NatsBroker(f"nats://127.0.0.1:{free_port()}", allow_reconnect=False)
    with anyio.fail_after(10), pytest.raises(nats.errors.NoServersError):
        await broker.start()


async def test_a_pull_subscriber_does_not_wait_for_a_full_batch(js_url: str, subject: str) -> None:
    # As with nats-py: a message that arrives during a long poll is handled at once, not
    # when the batch of 10 fills up or the 5 s poll ends (by then its 1 s ack_wait would
    # have run out and the same message would be delivered again into the batch).
    broker = NatsBroker(js_url)
    stream = stream_for(subject)
    handled: list[str] = []

    @broker.subscriber(
        f"{subject}.work",
        stream=stream,
        durable="poller",
        pull_sub=PullSub(batch_size=10, timeout=5.0),
        config=ConsumerConfig(ack_wait=1),
    )
    async def work(body: str) -> None:
        handled.append(body)

    async with broker:
        await broker.start()
        await anyio.sleep(0.3)  # the consumer is now in a long poll
        await broker.publish("job", f"{subject}.work", stream=stream.name)
        await wait_until(lambda: bool(handled), timeout=10)
        await anyio.sleep(1.5)  # past ack_wait: nothing comes back
    assert handled == ["job"]


@asynccontextmanager
async def driver_jetstream(js_url: str, subject: str) -> AsyncIterator[tuple[Any, JStream]]:
    """The driver's JetStream context of a started broker, and the stream it declared."""
    broker = NatsBroker(js_url)
    stream = stream_for(subject)

    @broker.subscriber(f"{subject}.x", stream=stream)
    async def noop(body: bytes) -> None: ...

    async with broker:
        await broker.start()  # declares the stream
        yield broker.connection.jetstream(), stream


async def test_pipelined_jetstream_publishes_through_the_driver(js_url: str, subject: str) -> None:
    async with driver_jetstream(js_url, subject) as (js, _):
        futures = [await js.publish_async(f"{subject}.x", b"%d" % i) for i in range(50)]
        await js.publish_async_completed()
        acks = [await future for future in futures]
    assert [ack.seq for ack in acks] == list(range(1, 51))


async def test_the_test_client_with_a_real_connection(js_url: str, subject: str) -> None:
    broker = NatsBroker(js_url)

    @broker.subscriber(subject)
    async def handle(body: str) -> str:
        return body.upper()

    async with TestNatsBroker(broker, with_real=True) as br:
        await br.publish("hi", subject)
        await handle.wait_call(timeout=5)
        handle.mock.assert_called_once_with("hi")
        assert isinstance(br.connection, CompatClient)


async def test_the_driver_pulls_from_an_existing_consumer(js_url: str, subject: str) -> None:
    from nats.js.api import ConsumerConfig as Config

    async with driver_jetstream(js_url, subject) as (js, stream):
        config = Config(durable_name="bound", filter_subject=f"{subject}.y")
        await js.add_consumer(stream.name, config)
        await js.publish(f"{subject}.y", b"hello")
        sub = await js.pull_subscribe_bind("bound", stream=stream.name)
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.ack()
    assert msg.data == b"hello"
