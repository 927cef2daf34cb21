"""``make_ping_asgi``: a real round trip, bounded by its timeout, shared by concurrent probes."""

from __future__ import annotations

import anyio
import httpx
import pytest
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, make_ping_asgi
from anystream.testing import NatsServer, lifespan
from tests.helpers import client, probe_together, publish_from_outside, wait_until

pytestmark = pytest.mark.anyio


async def test_health_is_204_while_the_broker_answers(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    health = make_ping_asgi(broker, timeout=2.0)
    app = AsgiFastStream(broker, asgi_routes=[("/health", health)])
    async with lifespan(app), client(app) as c:
        response = await c.get("/health")
        assert response.status_code == 204
        assert response.content == b""
    assert health.round_trips == 1  # it really went to the server


async def test_health_is_500_before_startup_and_after_shutdown(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=1.0))])
    async with client(app) as c:
        assert (await c.get("/health")).status_code == 500
        async with lifespan(app):
            assert (await c.get("/health")).status_code == 204
        assert (await c.get("/health")).status_code == 500


async def test_health_goes_500_within_its_timeout_when_nats_dies_and_204_after_restart(
    own_nats_server: NatsServer,
) -> None:
    broker = NatsBroker(own_nats_server.url, reconnect_time_wait=0.1)
    app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=1.0))])
    async with lifespan(app), client(app) as c:
        assert (await c.get("/health")).status_code == 204
        own_nats_server.kill()
        with anyio.fail_after(3):  # a probe never outlives its timeout by much
            status = (await c.get("/health")).status_code
        assert status == 500
        own_nats_server.start()
        with anyio.fail_after(10):
            while (await c.get("/health")).status_code != 204:
                await anyio.sleep(0.1)


async def test_concurrent_probes_share_one_round_trip(nats_url: str) -> None:
    statuses, made = await probe_together(nats_url, timeout=2.0, count=200)
    assert statuses == [204] * 200
    assert 1 <= made < 50  # probes in flight together waited for one answer


async def test_probes_on_the_same_broker_share_round_trips_across_routes(
    own_nats_server: NatsServer,
) -> None:
    broker = NatsBroker(own_nats_server.url)
    liveness, readiness = make_ping_asgi(broker, timeout=5), make_ping_asgi(broker, timeout=5)
    app = AsgiFastStream(broker, asgi_routes=[("/a", liveness), ("/b", readiness)])
    statuses: dict[str, int] = {}

    async def probe(c: httpx.AsyncClient, path: str) -> None:
        statuses[path] = (await c.get(path)).status_code

    async with lifespan(app), client(app) as c:
        assert (await c.get("/a")).status_code == 204
        # A round trip made for /a counts for /b: one count per broker.
        assert readiness.round_trips == 1
        own_nats_server.pause()  # the next round trip waits for the server
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(probe, c, "/a")
                await wait_until(lambda: readiness.round_trips == 2)
                tg.start_soon(probe, c, "/b")
                await anyio.sleep(0.3)  # /b is waiting now, for /a's round trip
                own_nats_server.resume()
        finally:
            own_nats_server.resume()
    assert statuses == {"/a": 204, "/b": 204}
    assert liveness.round_trips == readiness.round_trips == 2  # /b made none of its own


async def test_health_rejects_other_methods_with_405(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker))])
    async with client(app) as c:
        response = await c.post("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_a_ping_that_times_out_does_not_break_consumption(
    own_nats_server: NatsServer, subject: str
) -> None:
    """A frozen server: the probe says 500 in time; the late PONG must not hurt the client.

    nats-py's own ``flush()`` cancels its PONG future on timeout; when that PONG
    arrives later, nats-py's read loop dies on ``InvalidStateError`` and the app
    silently stops consuming while it still looks connected.
    """
    broker = NatsBroker(own_nats_server.url)
    received: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        received.append(body)

    app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=0.5))])
    async with lifespan(app), client(app) as c:
        own_nats_server.pause()
        try:
            assert (await c.get("/health")).status_code == 500
        finally:
            own_nats_server.resume()
        with anyio.fail_after(10):
            while (await c.get("/health")).status_code != 204:
                await anyio.sleep(0.05)
        await publish_from_outside(own_nats_server.url, subject, b"after the freeze")
        await wait_until(lambda: received == ["after the freeze"])
