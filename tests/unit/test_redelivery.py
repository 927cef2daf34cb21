"""JetStream redeliveries of messages this process already handled are not handled twice."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker

from anystream.asgi import AsgiFastStream
from anystream.redelivery import guard_for
from anystream.testing import NatsServer, lifespan
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def jetstream_server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as server:
        yield server


class Ledger:
    def __init__(self) -> None:
        self.handled: list[str] = []
        self.failures_left = 0


def lost_ack_app(
    url: str, subject: str, *, redelivery_memory: int | None
) -> tuple[AsgiFastStream, Ledger]:
    """A consumer whose acks never reach the server: every message comes back after 1 s.

    ``AckPolicy.MANUAL`` and a handler that never acks stand in for an ack lost on
    the wire (the server died, the connection dropped) after the handler succeeded.
    """
    broker = NatsBroker(url)
    stream = JStream(name=subject.replace(".", "-").upper(), subjects=[subject])
    ledger = Ledger()

    @broker.subscriber(
        subject,
        stream=stream,
        durable="lossy",
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(ack_wait=1),
    )
    async def handle(body: str) -> None:
        if ledger.failures_left:
            ledger.failures_left -= 1
            raise RuntimeError("transient failure")
        ledger.handled.append(body)

    return AsgiFastStream(broker, redelivery_memory=redelivery_memory), ledger


async def test_a_redelivered_message_already_handled_is_acked_not_handled_again(
    jetstream_server: NatsServer, subject: str
) -> None:
    app, ledger = lost_ack_app(jetstream_server.url, subject, redelivery_memory=1000)
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("order-1", subject, stream=subject.replace(".", "-").upper())
        guard = guard_for(broker)
        assert guard is not None
        await wait_until(lambda: guard.skipped >= 1, timeout=10)  # redelivered after 1 s
        await anyio.sleep(1.5)  # the guard acked it: no further redelivery
        skipped = guard.skipped
    assert ledger.handled == ["order-1"]
    assert skipped == 1


async def test_without_the_guard_jetstream_runs_the_handler_again(
    jetstream_server: NatsServer, subject: str
) -> None:
    app, ledger = lost_ack_app(jetstream_server.url, subject, redelivery_memory=None)
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("order-1", subject, stream=subject.replace(".", "-").upper())
        await wait_until(lambda: len(ledger.handled) >= 2, timeout=10)
    assert guard_for(broker) is None
    assert ledger.handled[:2] == ["order-1", "order-1"]


async def test_a_failed_handler_is_not_remembered_so_its_message_is_handled_again(
    jetstream_server: NatsServer, subject: str
) -> None:
    app, ledger = lost_ack_app(jetstream_server.url, subject, redelivery_memory=1000)
    ledger.failures_left = 1
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("order-2", subject, stream=subject.replace(".", "-").upper())
        await wait_until(lambda: ledger.handled == ["order-2"], timeout=10)
