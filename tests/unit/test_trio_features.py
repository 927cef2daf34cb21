"""faststream features built on asyncio internals keep working under trio (via the bridge)."""

from __future__ import annotations

import anyio
import pytest
from faststream.nats import JStream, NatsBroker, PullSub

from anystream.asgi import AsgiFastStream, JSONResponse, get
from anystream.testing import NatsServer, lifespan
from tests.helpers import client, wait_until

pytestmark = pytest.mark.anyio


async def test_jetstream_push_and_pull_subscribers_consume(
    js_server: NatsServer, subject: str
) -> None:
    broker = NatsBroker(js_server.url)
    stream = JStream(name=subject.replace(".", "-").upper(), subjects=[f"{subject}.>"])
    pushed: list[str] = []
    pulled: list[str] = []

    @broker.subscriber(f"{subject}.push", stream=stream, durable="pusher")
    async def on_push(body: str) -> None:
        pushed.append(body)

    @broker.subscriber(
        f"{subject}.pull", stream=stream, durable="puller", pull_sub=PullSub(batch_size=10)
    )
    async def on_pull(body: str) -> None:
        pulled.append(body)

    @get
    async def publish(scope):
        # From an HTTP task (trio under hypercorn's trio worker): JetStream publish acks.
        acks = [
            await broker.publish(f"p{i}", f"{subject}.{kind}", stream=stream.name)
            for kind in ("push", "pull")
            for i in range(3)
        ]
        return JSONResponse({"acked": sum(1 for ack in acks if ack.seq)})

    app = AsgiFastStream(broker, asgi_routes=[("/publish", publish)])
    async with lifespan(app), client(app) as c:
        assert (await c.get("/publish")).json() == {"acked": 6}
        await wait_until(lambda: len(pushed) == 3 and len(pulled) == 3)
    assert sorted(pushed) == sorted(pulled) == ["p0", "p1", "p2"]


class Tally:
    running = peak = done = 0


@pytest.fixture
def concurrent_app(nats_url: str, subject: str) -> tuple[NatsBroker, AsgiFastStream, Tally]:
    """Declared outside any event loop, as a module-level app is.

    faststream creates anyio primitives when a subscriber is declared (the
    ``max_workers`` semaphore); declared inside a trio task they would bind to trio
    and fail in the broker's asyncio loop. See docs/trio.md.
    """
    broker = NatsBroker(nats_url)
    tally = Tally()

    @broker.subscriber(subject, max_workers=4)
    async def slow(body: int) -> None:
        tally.running += 1
        tally.peak = max(tally.peak, tally.running)
        await anyio.sleep(0.1)
        tally.running -= 1
        tally.done += 1

    return broker, AsgiFastStream(broker), tally


async def test_max_workers_runs_handlers_concurrently(
    concurrent_app: tuple[NatsBroker, AsgiFastStream, Tally], subject: str
) -> None:
    broker, app, tally = concurrent_app
    async with lifespan(app):
        for i in range(8):
            await broker.publish(i, subject)
        await wait_until(lambda: tally.done == 8)
    assert tally.peak > 1
