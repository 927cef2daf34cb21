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
