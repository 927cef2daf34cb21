"""Push consumers against a real nats-server -js: iterate or callback, durable, queue, ordered."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
import pytest
from nats_helpers import fill

from anystream import nats
from anystream.nats import NatsTimeoutError
from anystream.nats.js import JetStream, JsMsg, PushSubscription
from nats.js import api

pytestmark = pytest.mark.anyio


async def test_ephemeral_push_subscription_iterates_the_stream(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 3)
    sub = await js.subscribe(stream_name)
    msgs = [await sub.next_msg(timeout=2) for _ in range(3)]
    assert [m.data for m in msgs] == [b"0", b"1", b"2"]
    assert [m.metadata.sequence.consumer for m in msgs] == [1, 2, 3]
    assert msgs[0].metadata.stream == stream_name
    with pytest.raises(NatsTimeoutError):
        await sub.next_msg(timeout=0.2)
    assert sub.delivered == 3
    await sub.unsubscribe()


async def test_callback_messages_are_acked_after_the_callback(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 5)
    seen: list[bytes] = []
    done = anyio.Event()

    async def handle(msg: JsMsg) -> None:
        seen.append(msg.data)
        if len(seen) == 5:
            done.set()

    sub = await js.subscribe(stream_name, durable="worker", cb=handle)
    with anyio.fail_after(5):
        await done.wait()
        while (await sub.consumer_info()).num_ack_pending:
            await anyio.sleep(0.05)
    assert seen == [b"0", b"1", b"2", b"3", b"4"]
    assert (await sub.consumer_info()).ack_floor.stream_seq == 5
    await sub.unsubscribe()


async def test_manual_ack_callback_leaves_acks_to_the_application(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 2)
    received = anyio.Event()
    msgs: list[JsMsg] = []

    async def handle(msg: JsMsg) -> None:
        msgs.append(msg)
        if len(msgs) == 2:
            received.set()

    sub = await js.subscribe(stream_name, durable="worker", cb=handle, manual_ack=True)
    with anyio.fail_after(5):
        await received.wait()
    assert (await sub.consumer_info()).num_ack_pending == 2
    await msgs[0].ack_sync()
    assert (await sub.consumer_info()).num_ack_pending == 1
    await sub.unsubscribe()


async def test_failing_callback_leaves_the_message_unacked(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 1)
    attempts: list[int] = []
    redelivered = anyio.Event()

    async def handle(msg: JsMsg) -> None:
        attempts.append(msg.metadata.num_delivered)
        if len(attempts) == 2:
            redelivered.set()
        else:
            raise RuntimeError("boom")

    sub = await js.subscribe(
        stream_name, durable="worker", cb=handle, config=api.ConsumerConfig(ack_wait=0.3)
    )
    with anyio.fail_after(5):
        await redelivered.wait()
    assert attempts == [1, 2]
    await sub.unsubscribe()


async def test_durable_push_consumer_resumes_where_it_stopped(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 4)
    # Messages 3 and 4 are in flight when we stop: redelivered after ack_wait.
    config = api.ConsumerConfig(ack_wait=0.5)
    sub = await js.subscribe(stream_name, durable="worker", config=config)
    for _ in range(2):
        await (await sub.next_msg(timeout=2)).ack_sync()
    await sub.unsubscribe()
    # The consumer is still bound for a moment: wait until the server sees it free.
    with anyio.fail_after(5):
        while (await js.consumer_info(stream_name, "worker")).push_bound:
            await anyio.sleep(0.05)
    sub = await js.subscribe(stream_name, durable="worker")
    rest = []
    with anyio.fail_after(5):
        while len(rest) < 2:
            msg = await sub.next_msg(timeout=2)
            rest.append(msg.data)
            await msg.ack()
    assert rest == [b"2", b"3"]
    await sub.unsubscribe()


async def test_queue_subscribers_share_the_messages(js: JetStream, stream_name: str) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    all_in = anyio.Event()

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def handle(msg: JsMsg) -> None:
            got[name].append(msg.data)
            if len(got["a"]) + len(got["b"]) == 40:
                all_in.set()

        return handle

    a = await js.subscribe(stream_name, queue="workers", cb=handler("a"))
    b = await js.subscribe(stream_name, queue="workers", cb=handler("b"))
    for i in range(40):
        await js.publish(stream_name, str(i).encode())
    with anyio.fail_after(5):
        await all_in.wait()
    assert sorted(got["a"] + got["b"]) == sorted(str(i).encode() for i in range(40))
    assert got["a"] and got["b"]
    info = await js.consumer_info(stream_name, "workers")
    assert info.config.deliver_group == "workers"
    await a.unsubscribe()
    await b.unsubscribe()


async def test_members_of_a_deliver_group_starting_at_once_share_one_consumer(
    js: JetStream, js_url: str, stream_name: str
) -> None:
    # Workers of an app start together: each looks the durable up, finds none and creates
    # it with its own deliver subject; all but one are refused ("consumer name already in
    # use") and must join the one that won.
    await js.add_stream(name=stream_name, subjects=[stream_name])
    got: list[bytes] = []
    subs: list[object] = []

    async def member(nc: nats.Client) -> None:
        async def handle(msg: JsMsg) -> None:
            got.append(msg.data)

        subs.append(await JetStream(nc).subscribe(stream_name, queue="workers", cb=handle))

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(nats.connect(js_url)) for _ in range(4)]
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for nc in clients:
                    tg.start_soon(member, nc)
        assert len(subs) == 4
        for i in range(20):
            await js.publish(stream_name, str(i).encode())
        with anyio.fail_after(10):
            while len(got) < 20:
                await anyio.sleep(0.01)
    assert sorted(got) == sorted(str(i).encode() for i in range(20))
    assert (await js.consumer_info(stream_name, "workers")).config.deliver_group == "workers"


async def test_flow_control_is_answered_so_delivery_never_stalls(
    js: JetStream, stream_name: str
) -> None:
    # The server asks for flow control after ~1 MB and stops at ~2 MB until answered;
    # with heartbeats 30 s apart, only the answer (not the stall recovery) gets all 600.
    await fill(js, stream_name, 600, size=8 * 1024)
    sub = await js.subscribe(stream_name, idle_heartbeat=30, flow_control=True)
    seqs = []
    with anyio.fail_after(20):
        while len(seqs) < 600:
            msg = await sub.next_msg(timeout=None)
            assert msg.status is None
            seqs.append(msg.metadata.sequence.stream)
            await msg.ack()
    assert seqs == list(range(1, 601))
    await sub.unsubscribe()


async def test_idle_heartbeats_never_reach_the_application(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 1)
    sub = await js.subscribe(stream_name, idle_heartbeat=0.1)
    assert (await sub.next_msg(timeout=2)).data == b"0"
    with pytest.raises(NatsTimeoutError):  # five heartbeats come in that time
        await sub.next_msg(timeout=0.5)
    await sub.unsubscribe()


async def test_deliver_policy_new_skips_what_is_stored(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 3)
    sub = await js.subscribe(stream_name, deliver_policy=api.DeliverPolicy.NEW)
    await js.publish(stream_name, b"fresh")
    assert (await sub.next_msg(timeout=2)).data == b"fresh"
    await sub.unsubscribe()


async def test_headers_only_delivers_no_payload(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 1, size=100)
    sub = await js.subscribe(stream_name, headers_only=True)
    msg = await sub.next_msg(timeout=2)
    assert msg.data == b"" and msg.headers is not None
    assert msg.headers["Nats-Msg-Size"] == "100"
    await sub.unsubscribe()


async def test_ordered_consumer_delivers_everything_in_order(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 50)
    sub = await js.subscribe(stream_name, ordered_consumer=True)
    seqs = [(await sub.next_msg(timeout=2)).metadata.sequence.stream for _ in range(50)]
    assert seqs == list(range(1, 51))
    assert sub.resets == 0
    await sub.unsubscribe()
    with anyio.fail_after(2):  # deleted with the subscription
        while await js.consumers_info(stream_name):
            await anyio.sleep(0.05)


async def test_ordered_consumer_recovers_from_dropped_messages(
    js: JetStream, stream_name: str
) -> None:
    # A pending limit of 10 makes the client drop messages (flow-control requests too):
    # gaps and stalls the consumer must get out of, by itself.
    await fill(js, stream_name, 200)
    sub = await js.subscribe(
        stream_name, ordered_consumer=True, pending_msgs_limit=10, idle_heartbeat=0.2
    )
    await anyio.sleep(0.3)  # let the server overrun the 10-message queue
    seqs = []
    with anyio.fail_after(20):
        while len(seqs) < 200:
            seqs.append((await sub.next_msg(timeout=5)).metadata.sequence.stream)
    assert seqs == list(range(1, 201))
    assert sub.resets >= 1
    with anyio.fail_after(2):  # the replaced consumers were deleted
        while [c.name for c in await js.consumers_info(stream_name)] != [sub.consumer]:
            await anyio.sleep(0.05)
    await sub.unsubscribe()


async def test_ordered_consumer_recreates_itself_when_heartbeats_stop(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 2)
    sub = await js.subscribe(stream_name, ordered_consumer=True, idle_heartbeat=0.1)
    assert [(await sub.next_msg(timeout=2)).data for _ in range(2)] == [b"0", b"1"]
    first = sub.consumer
    await js.delete_consumer(stream_name, first)  # heartbeats stop
    await js.publish(stream_name, b"2")
    msg = await sub.next_msg(timeout=5)
    assert (msg.data, msg.metadata.sequence.stream) == (b"2", 3)
    assert sub.consumer != first and sub.resets >= 1
    await sub.unsubscribe()


async def test_binding_twice_to_a_durable_push_consumer_is_refused(
    js: JetStream, stream_name: str
) -> None:
    await js.add_stream(name=stream_name, subjects=[stream_name])
    sub = await js.subscribe(stream_name, durable="worker")
    with pytest.raises(Exception, match="already bound"):
        await js.subscribe(stream_name, durable="worker")
    await sub.unsubscribe()


async def test_drain_waits_for_the_callback_to_finish(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 3)
    finished: list[bytes] = []
    started = anyio.Event()

    async def slow(msg: JsMsg) -> None:
        started.set()
        await anyio.sleep(0.1)
        finished.append(msg.data)

    sub = await js.subscribe(stream_name, cb=slow)
    with anyio.fail_after(5):
        await started.wait()
        await sub.drain()
    assert finished == [b"0", b"1", b"2"]


async def test_ordered_consumer_with_a_callback(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 20)
    seqs: list[int] = []
    all_in = anyio.Event()

    async def handle(msg: JsMsg) -> None:
        seqs.append(msg.metadata.sequence.stream)
        if len(seqs) == 20:
            all_in.set()

    sub = await js.subscribe(stream_name, ordered_consumer=True, cb=handle)
    with anyio.fail_after(5):
        await all_in.wait()
    assert seqs == list(range(1, 21))
    await sub.unsubscribe()


async def test_a_durable_named_in_the_config_is_bound_again(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 2)
    config = api.ConsumerConfig(durable_name="worker", ack_wait=0.5)
    sub = await js.subscribe(stream_name, config=config)
    await (await sub.next_msg(timeout=2)).ack_sync()
    await sub.unsubscribe()
    with anyio.fail_after(5):
        while (await js.consumer_info(stream_name, "worker")).push_bound:
            await anyio.sleep(0.05)
    sub = await js.subscribe(stream_name, config=config)
    assert (await sub.next_msg(timeout=3)).data == b"1"
    assert sub.consumer == "worker"
    await sub.unsubscribe()


async def test_a_callback_can_unsubscribe_its_own_subscription(
    js: JetStream, stream_name: str
) -> None:
    await fill(js, stream_name, 5)
    seen: list[bytes] = []
    holder: list[PushSubscription] = []

    async def handle(msg: JsMsg) -> None:
        seen.append(msg.data)
        await holder[0].unsubscribe()

    holder.append(await js.subscribe(stream_name, cb=handle))
    await anyio.sleep(0.5)
    assert seen == [b"0"]


async def test_a_callback_can_drain_its_own_subscription(js: JetStream, stream_name: str) -> None:
    await fill(js, stream_name, 3)
    seen: list[bytes] = []
    holder: list[PushSubscription] = []

    async def handle(msg: JsMsg) -> None:
        seen.append(msg.data)
        with anyio.fail_after(1):  # does not wait for itself
            await holder[0].drain()

    holder.append(await js.subscribe(stream_name, cb=handle))
    await anyio.sleep(0.5)
    assert seen[0] == b"0" and len(seen) <= 3
