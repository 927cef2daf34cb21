"""JetStream redeliveries: what faststream does, and the opt-in guard that never swallows a NAK.

Every test runs a real ``nats-server -js``. A handler that NAKs, rejects, raises or
is cancelled gets its message back exactly as with faststream, guard or not; the
guard (``redelivery_memory=N``, off by default) only skips a redelivery of a
message whose handler finished and acked it (an ack the server did not take in
time, here because it came after ``ack_wait``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import pytest
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage
from nats.aio.msg import Msg

import nats
from anystream.asgi import AsgiFastStream
from anystream.broker._redelivery import guard_for
from anystream.testing import NatsServer, lifespan
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio

Handler = Callable[[str, NatsMessage, "Ledger"], Any]


@dataclass
class Ledger:
    #: (body, delivery number) for every run of the handler.
    runs: list[tuple[str, int]] = field(default_factory=list)

    def bodies(self) -> list[str]:
        return [body for body, _ in self.runs]


def jetstream_app(
    url: str,
    subject: str,
    handler: Handler,
    *,
    ack_policy: AckPolicy | None = None,
    ack_wait: float = 1,
    **options: Any,
) -> tuple[AsgiFastStream, Ledger, str]:
    """An app with one durable JetStream consumer on ``subject`` running ``handler``."""
    broker = NatsBroker(url, graceful_timeout=0.5)
    stream_name = subject.replace(".", "-").upper()
    stream = JStream(name=stream_name, subjects=[subject])
    ledger = Ledger()
    policy = {} if ack_policy is None else {"ack_policy": ack_policy}

    @broker.subscriber(
        subject, stream=stream, durable="worker", config=ConsumerConfig(ack_wait=ack_wait), **policy
    )
    async def handle(body: str, msg: NatsMessage) -> None:
        ledger.runs.append((body, msg.raw_message.metadata.num_delivered))
        await handler(body, msg, ledger)

    return AsgiFastStream(broker, **options), ledger, stream_name


async def run_twice(app: AsgiFastStream, ledger: Ledger, subject: str, stream: str) -> NatsBroker:
    """Serve ``app`` until "order-1", published to ``subject``, has run twice; its broker."""
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("order-1", subject, stream=stream)
        await wait_until(lambda: len(ledger.runs) >= 2, timeout=10)
    return broker


async def nack_first(body: str, msg: NatsMessage, ledger: Ledger) -> None:
    if len(ledger.runs) == 1:
        await msg.nack()
    else:
        await msg.ack()


async def test_the_guard_is_off_by_default_so_a_nacked_message_runs_twice_as_with_faststream(
    js_server: NatsServer, subject: str
) -> None:
    app, ledger, stream = jetstream_app(
        js_server.url, subject, nack_first, ack_policy=AckPolicy.MANUAL
    )
    broker = await run_twice(app, ledger, subject, stream)
    assert guard_for(broker) is None
    assert ledger.runs == [("order-1", 1), ("order-1", 2)]


async def test_with_the_guard_on_a_nacked_message_still_runs_again(
    js_server: NatsServer, subject: str
) -> None:
    app, ledger, stream = jetstream_app(
        js_server.url,
        subject,
        nack_first,
        ack_policy=AckPolicy.MANUAL,
        redelivery_memory=1000,
    )
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("order-1", subject, stream=stream)
        await wait_until(lambda: len(ledger.runs) >= 2, timeout=10)
        guard = guard_for(broker)
        assert guard is not None
        skipped = guard.skipped
    assert ledger.runs == [("order-1", 1), ("order-1", 2)]
    assert skipped == 0


async def test_with_the_guard_on_a_nack_through_the_raw_nats_message_runs_again(
    js_server: NatsServer, subject: str
) -> None:
    async def raw_nack_first(body: str, msg: NatsMessage, ledger: Ledger) -> None:
        raw: Msg = msg.raw_message
        if len(ledger.runs) == 1:
            await raw.nak()  # faststream's AckPolicy then "acks" a message already NAKed

    app, ledger, stream = jetstream_app(
        js_server.url, subject, raw_nack_first, redelivery_memory=1000
    )
    await run_twice(app, ledger, subject, stream)
    assert ledger.runs == [("order-1", 1), ("order-1", 2)]


async def test_with_the_guard_on_raising_nack_message_runs_the_handler_again(
    js_server: NatsServer, subject: str
) -> None:
    async def raise_nack_first(body: str, msg: NatsMessage, ledger: Ledger) -> None:
        if len(ledger.runs) == 1:
            raise NackMessage

    app, ledger, stream = jetstream_app(
        js_server.url, subject, raise_nack_first, redelivery_memory=1000
    )
    await run_twice(app, ledger, subject, stream)
    assert ledger.runs == [("order-1", 1), ("order-1", 2)]


async def test_with_the_guard_on_a_handler_that_raises_under_nack_on_error_runs_again(
    js_server: NatsServer, subject: str
) -> None:
    async def fail_first(body: str, msg: NatsMessage, ledger: Ledger) -> None:
        if len(ledger.runs) == 1:
            raise RuntimeError("transient failure")

    app, ledger, stream = jetstream_app(
        js_server.url,
        subject,
        fail_first,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        redelivery_memory=1000,
    )
    await run_twice(app, ledger, subject, stream)
    assert ledger.runs == [("order-1", 1), ("order-1", 2)]


async def test_with_the_guard_on_a_rejected_message_is_not_remembered_as_handled(
    js_server: NatsServer, subject: str
) -> None:
    async def reject(body: str, msg: NatsMessage, ledger: Ledger) -> None:
        await msg.reject()

    app, ledger, stream = jetstream_app(
        js_server.url,
        subject,
        reject,
        ack_policy=AckPolicy.MANUAL,
        redelivery_memory=1000,
    )
    (broker,) = app.brokers
    async with lifespan(app):
        guard = guard_for(broker)
        assert guard is not None
        await broker.publish("order-1", subject, stream=stream)
        await wait_until(lambda: len(ledger.runs) >= 1, timeout=10)
        await anyio.sleep(1.5)  # past ack_wait: a rejected (terminated) message stays gone
    # As with faststream: one run, no redelivery; and nothing the guard could skip.
    assert ledger.runs == [("order-1", 1)]
    assert len(guard) == 0


async def test_with_the_guard_on_a_cancelled_handler_is_not_remembered_and_runs_again(
    js_server: NatsServer, subject: str
) -> None:
    started = anyio.Event()

    async def hang_first(body: str, msg: NatsMessage, ledger: Ledger) -> None:
        if len(ledger.runs) == 1:
            started.set()
            await anyio.sleep(60)  # cancelled when the app stops (graceful_timeout 0.5 s)

    app, ledger, stream = jetstream_app(js_server.url, subject, hang_first, redelivery_memory=1000)
    (broker,) = app.brokers
    guard = None
    async with lifespan(app):
        guard = guard_for(broker)
        await broker.publish("order-1", subject, stream=stream)
        await wait_until(started.is_set, timeout=10)
    assert guard is not None
    assert len(guard) == 0  # the cancelled run was not taken for a handled message
    async with lifespan(app):  # the same app and broker, started again
        await wait_until(lambda: len(ledger.runs) >= 2, timeout=10)
    assert ledger.runs[:2] == [("order-1", 1), ("order-1", 2)]


async def slow_ack(body: str, msg: NatsMessage, ledger: Ledger) -> None:
    # Finishes after ack_wait (1 s): the server has redelivered the message by the
    # time faststream acks it. The ack is late, the message was handled.
    await anyio.sleep(1.5)


async def test_with_the_guard_on_a_redelivery_of_a_handled_and_acked_message_is_skipped(
    js_server: NatsServer, subject: str
) -> None:
    app, ledger, stream = jetstream_app(js_server.url, subject, slow_ack, redelivery_memory=1000)
    (broker,) = app.brokers
    async with lifespan(app):
        guard = guard_for(broker)
        assert guard is not None
        await broker.publish("order-1", subject, stream=stream)
        await wait_until(lambda: guard.skipped >= 1, timeout=10)
        await anyio.sleep(1.5)  # the guard acked the redelivery: nothing comes back
    assert ledger.runs == [("order-1", 1)]


async def test_without_the_guard_a_late_ack_runs_the_handler_again(
    js_server: NatsServer, subject: str
) -> None:
    app, ledger, stream = jetstream_app(js_server.url, subject, slow_ack)
    await run_twice(app, ledger, subject, stream)
    assert ledger.bodies()[:2] == ["order-1", "order-1"]


def _recreate_stream_blocking(url: str, name: str, subject: str) -> None:
    async def main() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await js.delete_stream(name)
            await js.add_stream(name=name, subjects=[subject])
        finally:
            await nc.close()

    anyio.run(main, backend="asyncio")


async def test_with_the_guard_on_a_new_message_in_a_recreated_stream_is_handled(
    js_server: NatsServer, subject: str
) -> None:
    """A stream deleted and created again numbers its messages from 1 again: the new
    message #1 is not the remembered #1 (and is not a redelivery)."""

    async def ack(body: str, msg: NatsMessage, ledger: Ledger) -> None:
        pass

    app, ledger, stream = jetstream_app(js_server.url, subject, ack, redelivery_memory=1000)
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("before", subject, stream=stream)
        await wait_until(lambda: len(ledger.runs) >= 1, timeout=10)
    await anyio.to_thread.run_sync(_recreate_stream_blocking, js_server.url, stream, subject)
    async with lifespan(app):  # the same broker and guard
        await broker.publish("after", subject, stream=stream)
        await wait_until(lambda: len(ledger.runs) >= 2, timeout=10)
    guard = guard_for(broker)
    assert guard is not None
    assert guard.skipped == 0
    assert ledger.runs == [("before", 1), ("after", 1)]


# What the guard reads from faststream and nats-py to tell an ack from a NAK.


async def test_contract_faststream_puts_the_subscriber_with_its_ack_policy_in_the_context(
    js_server: NatsServer, subject: str
) -> None:
    from faststream import BaseMiddleware

    seen: list[object] = []

    class Spy(BaseMiddleware):
        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            subscriber = self.context.get_local("handler_")
            seen.append(getattr(subscriber, "ack_policy", "no ack_policy attribute"))
            return await call_next(msg)

    broker = NatsBroker(js_server.url, middlewares=[Spy])
    stream_name = subject.replace(".", "-").upper()

    @broker.subscriber(
        subject, stream=JStream(name=stream_name, subjects=[subject]), ack_policy=AckPolicy.ACK
    )
    async def handle(body: str) -> None:
        pass

    async with lifespan(AsgiFastStream(broker)):
        await broker.publish("x", subject, stream=stream_name)
        await wait_until(lambda: bool(seen), timeout=10)
    assert seen == [AckPolicy.ACK], (
        "faststream no longer puts the subscriber (with .ack_policy) in the context as "
        "'handler_': anystream.broker._redelivery.will_be_acked cannot tell auto-acked messages"
    )


def test_contract_nats_py_marks_a_message_acted_on_with_ackd() -> None:
    assert Msg(_client=None)._ackd is False, (  # type: ignore[arg-type]
        "nats-py's Msg has no _ackd flag any more: anystream.broker._redelivery.will_be_acked "
        "cannot see a NAK sent through the raw message"
    )


def test_the_guard_acts_on_jetstream_deliveries_only_and_builds_nothing_for_others() -> None:
    from anystream.broker._redelivery import RedeliveryGuard

    guard = RedeliveryGuard(10)
    core_a = Msg(None, subject="orders", reply="_INBOX.a", data=b"{}")  # type: ignore[arg-type]
    core_b = Msg(None, subject="orders", reply="", data=b"{}")  # type: ignore[arg-type]
    delivery = Msg(
        None,  # type: ignore[arg-type]
        subject="orders",
        reply="$JS.ACK.S.C.1.1.1.1764400000000000000.0",
        data=b"{}",
    )

    shared = guard(core_a, context=None)
    assert guard(core_b, context=None) is shared
    assert guard(None, context=None) is shared  # a publish
    per_message = guard(delivery, context=None)
    assert per_message is not shared
    assert per_message.msg is delivery
