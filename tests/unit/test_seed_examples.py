"""The seed document's examples, with the import switched, run in-process on both backends."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from faststream.nats import NatsBroker

from anystream import FastStream, broker_lifespan
from anystream.asgi import AsgiFastStream, AsgiResponse, get, make_asyncapi_asgi, make_ping_asgi
from anystream.testing import lifespan
from tests.helpers import client, publish_from_outside, wait_until

pytestmark = pytest.mark.anyio


async def test_a_bare_app_runs_the_broker_in_its_lifespan(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url)
    seen: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(body)

    app = AsgiFastStream(broker)
    async with lifespan(app):
        await publish_from_outside(nats_url, subject, b"hello")
        await wait_until(lambda: seen == ["hello"])


async def test_the_liveness_route_with_get(nats_url: str) -> None:
    broker = NatsBroker(nats_url)

    @get
    async def liveness_ping(scope):
        return AsgiResponse(b"", status_code=200)

    app = AsgiFastStream(broker, asgi_routes=[("/health", liveness_ping)])
    async with lifespan(app), client(app) as c:
        assert (await c.get("/health")).status_code == 200


async def test_mount_adds_a_route_after_construction(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    app = AsgiFastStream(broker)
    app.mount("/health", make_ping_asgi(broker, timeout=5.0))
    async with lifespan(app), client(app) as c:
        assert (await c.get("/health")).status_code == 204


async def test_faststream_object_reuse_with_as_asgi(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url)
    seen: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(body)

    @get
    async def liveness_ping(scope):
        return AsgiResponse(b"", status_code=200)

    app = FastStream(broker).as_asgi(
        asgi_routes=[
            ("/liveness", liveness_ping),
            ("/readiness", make_ping_asgi(broker, timeout=5.0)),
        ],
        asyncapi_path="/docs",
    )
    assert isinstance(app, AsgiFastStream)
    async with lifespan(app), client(app) as c:
        assert (await c.get("/liveness")).status_code == 200
        assert (await c.get("/readiness")).status_code == 204
        assert (await c.get("/docs")).status_code == 200
        await publish_from_outside(nats_url, subject, b"reused")
        await wait_until(lambda: seen == ["reused"])


async def test_as_asgi_keeps_the_apps_hooks(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    events: list[str] = []
    stream_app = FastStream(broker)
    stream_app.after_startup(lambda: events.append("after_startup"))
    stream_app.on_shutdown(lambda: events.append("on_shutdown"))
    async with lifespan(stream_app.as_asgi()):
        assert events == ["after_startup"]
    assert events == ["after_startup", "on_shutdown"]


async def test_the_fastapi_example_with_broker_lifespan(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url)
    seen: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(body)

    @asynccontextmanager
    async def start_broker(app):
        """Start the broker with the app (on asyncio or trio)."""
        async with broker_lifespan(broker):
            yield

    app = FastAPI(lifespan=start_broker)
    app.mount("/health", make_ping_asgi(broker, timeout=5.0))
    app.mount("/asyncapi", make_asyncapi_asgi(FastStream(broker)))

    async with lifespan(app), client(app) as c:
        # Starlette answers a mount's bare path with a redirect to the slash form.
        assert (await c.get("/health")).status_code == 307
        assert (await c.get("/health/")).status_code == 204
        assert (await c.get("/asyncapi/")).status_code == 200
        await publish_from_outside(nats_url, subject, b"via fastapi")
        await wait_until(lambda: seen == ["via fastapi"])
