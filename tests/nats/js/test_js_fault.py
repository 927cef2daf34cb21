"""JetStream through a crash: nats-server SIGKILLed and restarted (same port, same store).

A publisher keeps publishing (retrying with the same ``Nats-Msg-Id`` until acked) while a
durable pull consumer and a durable push consumer consume and ack. The server is killed
mid-way and restarted on its store. Every message the stream acked must be handled by
both consumers: none lost. Redeliveries (acks lost in the crash) are counted, not hidden.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable

import anyio
import pytest

from anystream import nats
from anystream.nats import NatsError
from anystream.nats.js import JetStream, JsMsg
from anystream.testing import NatsServer
from nats.js import api

pytestmark = pytest.mark.anyio

TOTAL = 300


async def publish_all(js: JetStream, stream: str, acked: set[int], published: anyio.Event) -> None:
    for i in range(TOTAL):
        while True:
            try:
                await js.publish(stream, b"%d" % i, timeout=1, headers={"Nats-Msg-Id": str(i)})
            except NatsError:  # timeout, no stream response, not connected...
                await anyio.sleep(0.05)
                continue
            acked.add(i)
            break
        await anyio.sleep(0.002)
    published.set()


async def handle(msg: JsMsg, seen: Counter[int]) -> None:
    seen[int(msg.data)] += 1
    with contextlib.suppress(NatsError):  # lost with the connection: it comes again
        await msg.ack()


async def pull_consume(js: JetStream, stream: str, seen: Counter[int]) -> None:
    sub = None
    while True:
        try:
            if sub is None:
                sub = await js.pull_subscribe(stream, durable="puller")
            for msg in await sub.fetch(50, timeout=0.5):
                await handle(msg, seen)
        except NatsError:
            await anyio.sleep(0.05)


async def push_consume(js: JetStream, stream: str, seen: Counter[int]) -> None:
    sub = None
    while sub is None:
        try:
            sub = await js.subscribe(stream, durable="pusher", idle_heartbeat=0.5)
        except NatsError:
            await anyio.sleep(0.05)
    async for msg in sub:
        await handle(msg, seen)


async def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


async def test_no_acked_message_is_lost_when_the_server_is_killed_and_restarted(
    stream_name: str,
) -> None:
    server = NatsServer(jetstream=True).start()
    acked: set[int] = set()
    pulled: Counter[int] = Counter()
    pushed: Counter[int] = Counter()
    published = anyio.Event()
    try:
        async with nats.connect(
            server.url, reconnect_wait=0.1, reconnect_jitter=0.05, max_reconnect_attempts=-1
        ) as nc:
            js = JetStream(nc, timeout=2)
            await js.add_stream(name=stream_name, subjects=[stream_name], storage="file")
            config = api.ConsumerConfig(ack_wait=2)
            await js.add_consumer(stream_name, config, durable_name="puller")
            async with anyio.create_task_group() as tg:
                tg.start_soon(pull_consume, js, stream_name, pulled)
                tg.start_soon(push_consume, js, stream_name, pushed)
                tg.start_soon(publish_all, js, stream_name, acked, published)
                await wait_for(lambda: len(pulled) > TOTAL // 3 and len(pushed) > TOTAL // 3, 30)
                server.kill()
                await anyio.sleep(0.5)
                server.start()
                await wait_for(published.is_set, 60)
                await wait_for(lambda: acked <= pulled.keys() and acked <= pushed.keys(), 60)
                tg.cancel_scope.cancel()
            stored = (await js.stream_info(stream_name)).state.messages
    finally:
        server.close()
    duplicates = {
        "pull": sum(pulled.values()) - len(pulled),
        "push": sum(pushed.values()) - len(pushed),
    }
    print(f"acked {len(acked)}, stored {stored}, redelivered (duplicates) {duplicates}")
    assert acked == set(range(TOTAL))
    assert stored == TOTAL  # Nats-Msg-Id deduplicated the retried publishes
    assert set(pulled) == set(pushed) == acked
