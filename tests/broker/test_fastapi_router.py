"""faststream's FastAPI ``NatsRouter`` on anystream.nats: a FastAPI app consumes on trio too."""

from __future__ import annotations

import sys

import anyio
import pytest
import sniffio
from fastapi import FastAPI

from anystream.nats import NatsBroker
from anystream.nats.fastapi import NatsRouter
from anystream.testing import lifespan
from tests.helpers import client, wait_until

pytestmark = pytest.mark.anyio


async def test_a_fastapi_router_consumes_and_publishes_on_the_app_backend(
    nats_url: str, subject: str, anyio_backend_name: str
) -> None:
    router = NatsRouter(nats_url)
    seen: list[str] = []

    @router.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(f"{body} in {sniffio.current_async_library()}")

    @router.get("/send")
    async def send() -> dict[str, bool]:
        await router.broker.publish("hi", subject)
        return {"sent": True}

    app = FastAPI()
    app.include_router(router)

    assert isinstance(router.broker, NatsBroker)
    async with lifespan(app), client(app) as http:
        assert (await http.get("/send")).json() == {"sent": True}
        await wait_until(lambda: seen == [f"hi in {anyio_backend_name}"])
        with anyio.fail_after(5):
            await router.broker.connection.flush()
    assert "trio_asyncio" not in sys.modules


async def test_the_routers_pacing_options_reach_its_connection(nats_url: str, subject: str) -> None:
    router = NatsRouter(nats_url, backlog_limit=5, backlog_read_size=256)
    release = anyio.Event()
    handled: list[str] = []

    @router.subscriber(subject)
    async def held(body: str) -> None:
        await release.wait()
        handled.append(body)

    app = FastAPI()
    app.include_router(router)
    async with lifespan(app):
        native = router.broker.connection.native
        for i in range(20):
            await router.broker.publish(f"m{i}", subject)
        await wait_until(lambda: native.stats.in_msgs >= 20)
        # 19 messages wait behind the handler, over the router's limit of 5: reads are held.
        assert native.stats.paced_reads >= 1
        release.set()
        await wait_until(lambda: len(handled) == 20)


def test_out_of_range_pacing_is_refused_when_the_router_is_built() -> None:
    with pytest.raises(ValueError, match="backlog_read_size"):
        NatsRouter("nats://127.0.0.1:1", backlog_read_size=0)
