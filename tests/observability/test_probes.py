"""Liveness vs readiness, on asyncio and trio, against a real nats-server."""

from __future__ import annotations

import anyio
import pytest
from faststream.nats import NatsBroker

from anystream import broker_call
from anystream.asgi import AsgiFastStream
from anystream.observability import make_liveness_asgi, make_readiness_asgi
from anystream.testing import NatsServer, lifespan
from tests.helpers import client

from .helpers import poll


def _app(url: str, subject: str) -> tuple[AsgiFastStream, NatsBroker]:
    broker = NatsBroker(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)

    @broker.subscriber(subject)
    async def handle(body: str) -> None: ...

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/health/live", make_liveness_asgi()),
            ("/health/ready", make_readiness_asgi(broker, timeout=1.0)),
        ],
    )
    return app, broker


@pytest.mark.anyio
async def test_liveness_answers_while_nats_is_down_and_readiness_does_not(
    own_nats_server: NatsServer, subject: str
) -> None:
    app, _ = _app(own_nats_server.url, subject)
    async with lifespan(app), client(app) as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).text == "ready\n"

        await anyio.to_thread.run_sync(own_nats_server.stop)

        async def not_ready() -> bool:
            return (await http.get("/health/ready")).status_code == 503

        await poll(not_ready)
        down = await http.get("/health/ready")
        assert "NatsBroker: no answer to a ping" in down.text
        live = await http.get("/health/live")
        assert (live.status_code, live.text) == (200, "alive\n")

        await anyio.to_thread.run_sync(own_nats_server.start)

        async def ready() -> bool:
            return (await http.get("/health/ready")).status_code == 200

        await poll(ready, timeout=15.0)


@pytest.mark.anyio
async def test_readiness_is_false_until_started_and_while_a_subscriber_is_stopped(
    nats_url: str, subject: str
) -> None:
    app, broker = _app(nats_url, subject)
    async with client(app) as http:
        before = await http.get("/health/ready")
        assert before.status_code == 503
        assert "1 subscriber(s) not running" in before.text
        assert (await http.get("/health/live")).status_code == 200

        async with lifespan(app):
            assert (await http.get("/health/ready")).status_code == 200
            await broker_call(broker, broker.subscribers[0].stop)
            stopped = await http.get("/health/ready")
            assert stopped.status_code == 503
            assert "not running" in stopped.text


@pytest.mark.anyio
async def test_readiness_can_skip_the_consuming_check(nats_url: str, subject: str) -> None:
    app, broker = _app(nats_url, subject)
    app.mount("/health/connected", make_readiness_asgi(broker, require_consuming=False))
    async with lifespan(app), client(app) as http:
        await broker_call(broker, broker.subscribers[0].stop)
        assert (await http.get("/health/connected")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 503


@pytest.mark.anyio
async def test_probes_answer_head_and_refuse_other_methods() -> None:
    broker = NatsBroker()
    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/live", make_liveness_asgi()),
            ("/ready", make_readiness_asgi(broker, timeout=0.1)),
        ],
    )
    async with client(app) as http:
        head = await http.head("/live")
        post_live = await http.post("/live")
        post_ready = await http.post("/ready")
    assert (head.status_code, head.content) == (200, b"")
    assert (post_live.status_code, post_live.headers["allow"]) == (405, "GET, HEAD")
    assert post_ready.status_code == 405

