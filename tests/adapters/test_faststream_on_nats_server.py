"""The adapted faststream paths on a real nats-server, through ``anystream.nats.NatsBroker``.

On trio each of these failed before the adapters (``max_workers``, pull, batch, KV- and
object-store-watch subscribers in ``TasksMixin.add_task``, graceful stop in ``MultiLock``,
JetStream request in ``NatsJSFastProducer.request``, a cancelled JetStream handler TERMed by
the ack middleware); on asyncio they behave as faststream's own code.
"""

from __future__ import annotations

import anyio
import pytest
from faststream.exceptions import StopConsume
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, PullSub
from faststream.nats import NatsBroker as FaststreamNatsBroker

from anystream._adapters.faststream import SupervisedTask
from anystream.nats import NatsBroker
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0

Broker = type[FaststreamNatsBroker]


@pytest.fixture
def broker_class() -> Broker:
    """The broker under test (test_faststream_on_nats_py.py runs these on nats-py's)."""
    return NatsBroker


async def test_max_workers_2_handles_two_messages_at_once(
    broker_class: Broker, nats_url: str, subject: str
) -> None:
    broker = broker_class(nats_url)
    in_flight: list[str] = []
    both_in = anyio.Event()
    handled: list[str] = []

    @broker.subscriber(subject, max_workers=2)
    async def handler(body: str) -> None:
        in_flight.append(body)
        if len(in_flight) == 2:
            both_in.set()
        with anyio.fail_after(TIMEOUT):  # one worker only would never get here
            await both_in.wait()
        handled.append(body)

    async with broker:
        await broker.start()
        await broker.publish("a", subject)
        await broker.publish("b", subject)
        await wait_until(lambda: len(handled) >= 2, timeout=TIMEOUT)

    assert sorted(handled) == ["a", "b"]


async def test_graceful_stop_waits_for_the_handler_in_flight(
    broker_class: Broker, nats_url: str, subject: str
) -> None:
    broker = broker_class(nats_url, graceful_timeout=TIMEOUT)
    entered = anyio.Event()
    finished: list[str] = []

    @broker.subscriber(subject)
    async def slow(body: str) -> None:
        entered.set()
        await anyio.sleep(0.3)
        finished.append(body)

    await broker.start()
    try:
        await broker.publish("in flight", subject)
        with anyio.fail_after(TIMEOUT):
            await entered.wait()
    finally:
        await broker.stop()

    assert finished == ["in flight"]


async def test_graceful_stop_of_a_max_workers_subscriber_waits_for_its_handlers(
    broker_class: Broker, nats_url: str, subject: str
) -> None:
    broker = broker_class(nats_url, graceful_timeout=TIMEOUT)
    subscriber = broker.subscriber(subject, max_workers=2)
    entered = anyio.Event()
    finished: list[str] = []

    @subscriber
    async def slow(body: str) -> None:
        entered.set()
        await anyio.sleep(0.3)
        finished.append(body)

    await broker.start()
    try:
        tasks = list(subscriber.tasks)
        await broker.publish("in flight", subject)
        with anyio.fail_after(TIMEOUT):
            await entered.wait()
    finally:
        await broker.stop()

    assert finished == ["in flight"]
    assert tasks and all(isinstance(t, SupervisedTask) and t.done() for t in tasks)
    assert subscriber.tasks == []


async def test_stop_consume_from_a_max_workers_handler_stops_that_subscriber(
    broker_class: Broker, nats_url: str, subject: str
) -> None:
    # StopConsume makes faststream call stop() from inside the subscriber's consume task.
    broker = broker_class(nats_url)
    subscriber = broker.subscriber(subject, max_workers=2)
    handled: list[str] = []

    @subscriber
    async def handler(body: str) -> None:
        handled.append(body)
        raise StopConsume

    async with broker:
        await broker.start()
        tasks = list(subscriber.tasks)
        await broker.publish("first", subject)
        await wait_until(lambda: bool(tasks and tasks[0].done()), timeout=TIMEOUT)
        await broker.publish("second", subject)
        await anyio.sleep(0.2)

    assert handled == ["first"]
    assert tasks[0].cancelled()


async def test_stop_consume_from_a_pull_handler_stops_that_subscriber(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    broker = broker_class(js_url)
    subscriber = broker.subscriber(
        subject,
        stream=JStream(stream_name, subjects=[subject]),
        pull_sub=PullSub(batch_size=1, timeout=0.2),
    )
    handled: list[str] = []

    @subscriber
    async def handler(body: str) -> None:
        handled.append(body)
        raise StopConsume

    async with broker:
        await broker.start()
        tasks = list(subscriber.tasks)
        await broker.publish("first", subject, stream=stream_name)
        await wait_until(lambda: bool(tasks and tasks[0].done()), timeout=TIMEOUT)
        await broker.publish("second", subject, stream=stream_name)
        await anyio.sleep(0.5)

    assert handled == ["first"]


async def test_pull_subscriber_consumes_a_stream(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    broker = broker_class(js_url)
    got: list[str] = []

    @broker.subscriber(
        subject,
        stream=JStream(stream_name, subjects=[subject]),
        pull_sub=PullSub(batch_size=5, timeout=0.2),
    )
    async def handler(body: str) -> None:
        got.append(body)

    async with broker:
        await broker.start()
        for body in ("one", "two", "three"):
            await broker.publish(body, subject, stream=stream_name)
        await wait_until(lambda: len(got) >= 3, timeout=TIMEOUT)

    assert sorted(got) == ["one", "three", "two"]


async def test_batch_pull_subscriber_gets_the_stream_in_batches(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    broker = broker_class(js_url)
    batches: list[list[str]] = []

    @broker.subscriber(
        subject,
        stream=JStream(stream_name, subjects=[subject]),
        pull_sub=PullSub(batch_size=3, timeout=0.2, batch=True),
    )
    async def handler(bodies: list[str]) -> None:
        batches.append(bodies)

    async with broker:
        await broker.start()
        for n in range(5):
            await broker.publish(str(n), subject, stream=stream_name)
        await wait_until(lambda: sum(map(len, batches)) >= 5, timeout=TIMEOUT)

    assert sorted(b for batch in batches for b in batch) == ["0", "1", "2", "3", "4"]
    assert all(1 <= len(batch) <= 3 for batch in batches)


async def test_stop_ends_a_pull_subscribers_consume_task(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    broker = broker_class(js_url)
    subscriber = broker.subscriber(
        subject,
        stream=JStream(stream_name, subjects=[subject]),
        pull_sub=PullSub(batch_size=1, timeout=5.0),  # a long fetch in progress at stop
    )

    @subscriber
    async def handler(body: str) -> None: ...

    await broker.start()
    try:
        tasks = list(subscriber.tasks)
        await anyio.sleep(0.1)
    finally:
        with anyio.fail_after(TIMEOUT):
            await broker.stop()

    assert len(tasks) == 1
    assert tasks[0].done()
    assert subscriber.tasks == []


async def test_kv_watch_subscriber_sees_each_put(
    broker_class: Broker, js_url: str, stream_name: str
) -> None:
    broker = broker_class(js_url)
    bucket = stream_name.replace("S_", "B_", 1)
    seen: list[bytes] = []

    @broker.subscriber("greeting", kv_watch=bucket)
    async def watcher(value: bytes) -> None:
        seen.append(value)

    async with broker:
        await broker.start()
        kv = await broker.key_value(bucket)
        await kv.put("greeting", b"hello")
        await kv.put("greeting", b"bonjour")
        await wait_until(lambda: len(seen) >= 2, timeout=TIMEOUT)

    assert seen == [b"hello", b"bonjour"]


async def test_object_storage_watch_subscriber_sees_a_put(
    broker_class: Broker, js_url: str, stream_name: str
) -> None:
    broker = broker_class(js_url, apply_types=True)
    bucket = stream_name.replace("S_", "O_", 1)
    seen: list[str] = []

    @broker.subscriber(bucket, obj_watch=True)
    async def watcher(filename: str) -> None:
        seen.append(filename)

    async with broker:
        await broker.start()
        store = await broker.object_storage(bucket)
        await store.put("report.txt", b"all good")
        await wait_until(lambda: bool(seen), timeout=TIMEOUT)

    assert seen == ["report.txt"]


async def test_jetstream_request_gets_the_handlers_answer(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    broker = broker_class(js_url)

    @broker.subscriber(subject, stream=JStream(stream_name, subjects=[subject]))
    async def answer(question: str) -> str:
        return f"answer to {question}"

    async with broker:
        await broker.start()
        response = await broker.request("life", subject, stream=stream_name, timeout=TIMEOUT)

    assert await response.decode() == "answer to life"


async def test_jetstream_request_times_out_with_no_answer(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    broker = broker_class(js_url, graceful_timeout=0.1)

    @broker.subscriber(
        subject,
        stream=JStream(stream_name, subjects=[subject]),
        pull_sub=PullSub(batch_size=1, timeout=0.2),
    )
    async def never_answers(question: str) -> None:
        await anyio.sleep_forever()

    async with broker:
        await broker.start()
        with pytest.raises(TimeoutError):
            await broker.request("anyone?", subject, stream=stream_name, timeout=0.3)


async def test_a_handler_cancelled_at_stop_leaves_its_message_for_redelivery(
    broker_class: Broker, js_url: str, subject: str, stream_name: str
) -> None:
    # REJECT_ON_ERROR would TERM the message if the cancellation were taken for an error:
    # then no consumer would ever get it again.
    durable = f"D{stream_name}"[:60]
    stream = JStream(stream_name, subjects=[subject])
    options = {
        "stream": stream,
        "durable": durable,
        "pull_sub": PullSub(batch_size=1, timeout=0.2),
        "config": ConsumerConfig(ack_wait=1.0),
        "ack_policy": AckPolicy.REJECT_ON_ERROR,
    }

    first = broker_class(js_url, graceful_timeout=0.1)
    entered = anyio.Event()

    @first.subscriber(subject, **options)
    async def stuck(body: str) -> None:
        entered.set()
        await anyio.sleep_forever()  # cancelled when stop()'s graceful timeout ends

    await first.start()
    try:
        await first.publish("job", subject, stream=stream_name)
        with anyio.fail_after(TIMEOUT):
            await entered.wait()
    finally:
        with anyio.fail_after(TIMEOUT):
            await first.stop()

    second = broker_class(js_url)
    redelivered: list[str] = []

    @second.subscriber(subject, **options)
    async def again(body: str) -> None:
        redelivered.append(body)

    async with second:
        await second.start()
        with anyio.fail_after(TIMEOUT):  # ack_wait (1 s) after the first delivery
            while not redelivered:
                await anyio.sleep(0.05)

    assert redelivered == ["job"]
