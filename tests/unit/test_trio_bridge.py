"""Calls a user writes in handlers and hooks work as written, on asyncio and trio alike."""

from __future__ import annotations

import sys

import anyio
import pytest
import sniffio
from faststream.nats import NatsBroker

from anystream import broker_call, ping_broker
from anystream.asgi import AsgiFastStream, AsgiResponse, JSONResponse, get
from anystream.testing import lifespan
from tests.helpers import client, publish_from_outside, wait_until

pytestmark = pytest.mark.anyio


async def test_an_http_handler_publishes_requests_and_pings(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url)
    seen: list[str] = []
    out = broker.publisher(f"{subject}.out")

    @broker.subscriber(f"{subject}.in")
    async def record(body: str) -> None:
        seen.append(body)

    @broker.subscriber(f"{subject}.rpc")
    async def echo(body: str) -> str:
        return body.upper()

    @broker.subscriber(f"{subject}.out")
    async def via_publisher(body: str) -> None:
        seen.append(f"publisher:{body}")

    @get
    async def work(scope):
        await broker.publish("direct", f"{subject}.in")
        await out.publish("hi")
        reply = await broker.request("ping", f"{subject}.rpc", timeout=3)
        alive = await broker.ping(timeout=1)
        return JSONResponse({"reply": await reply.decode(), "alive": alive})

    app = AsgiFastStream(broker, asgi_routes=[("/work", work)])
    async with lifespan(app), client(app) as c:
        response = await c.get("/work")
        assert response.json() == {"reply": "PING", "alive": True}
        await wait_until(lambda: sorted(seen) == ["direct", "publisher:hi"])


async def test_after_startup_hooks_may_publish(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url)
    seen: list[str] = []

    @broker.subscriber(subject)
    async def record(body: str) -> None:
        seen.append(body)

    async def announce() -> None:
        await broker.publish("hello from startup", subject)

    app = AsgiFastStream(broker, after_startup=[announce])
    async with lifespan(app):
        await wait_until(lambda: seen == ["hello from startup"])


async def test_subscriber_handlers_run_on_the_host_backend_and_may_use_anyio(
    nats_url: str, subject: str, anyio_backend_name: str
) -> None:
    broker = NatsBroker(nats_url)
    results: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        with anyio.fail_after(2):
            await anyio.sleep(0.01)
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 0)
        results.append(f"{body} in {sniffio.current_async_library()}")
        await broker.publish(body, f"{subject}.done")

    app = AsgiFastStream(broker)
    async with lifespan(app):
        await publish_from_outside(nats_url, subject, b"m1", b"m2")
        # NATS runs on anystream.nats: handlers run on the app's own backend, no bridge.
        expected = [f"m1 in {anyio_backend_name}", f"m2 in {anyio_backend_name}"]
        await wait_until(lambda: results == expected)
    assert "trio_asyncio" not in sys.modules


async def test_broker_call_runs_driver_calls_where_the_client_lives(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url)

    @get
    async def rtt(scope):
        # broker_call carries driver calls to where the client lives (a plain await here).
        await broker_call(broker, broker.connection.flush, 2)
        return AsgiResponse(b"flushed")

    app = AsgiFastStream(broker, asgi_routes=[("/rtt", rtt)])
    async with lifespan(app), client(app) as c:
        assert (await c.get("/rtt")).text == "flushed"
        assert await ping_broker(broker, timeout=2)


async def test_many_publishes_from_the_host_backend_do_not_wedge(
    nats_url: str, subject: str
) -> None:
    """nats-py called from trio without a bridge fails once its flush queue fills."""
    broker = NatsBroker(nats_url, logger=None)  # no log line per message
    count = 0

    @broker.subscriber(subject)
    async def counted(body: int) -> None:
        nonlocal count
        count += 1

    app = AsgiFastStream(broker)
    async with lifespan(app):
        with anyio.fail_after(60):
            for i in range(20_000):
                await broker.publish(str(i).encode(), subject)
        await wait_until(lambda: count == 20_000, timeout=60)
