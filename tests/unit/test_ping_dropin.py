"""Health probes as faststream users expect: own timeouts; test brokers use their own ping."""

from __future__ import annotations

import anyio
import pytest
from faststream.asgi import AsgiFastStream as UpstreamAsgiFastStream
from faststream.asgi import make_ping_asgi as upstream_make_ping_asgi
from faststream.nats import NatsBroker, TestNatsBroker
from faststream.redis import RedisBroker, TestRedisBroker

from anystream.asgi import AsgiFastStream, make_ping_asgi
from anystream.testing import NatsServer, lifespan
from tests.helpers import client, probe_together

pytestmark = pytest.mark.anyio


# Point 4: each probe its own timeout.


async def test_a_patient_probe_that_joins_an_impatient_ones_ping_gets_its_own_verdict(
    own_nats_server: NatsServer,
) -> None:
    """A 2 s probe starts a ping; a 5 s probe joins it; the server answers after 3 s."""
    broker = NatsBroker(own_nats_server.url)
    impatient = make_ping_asgi(broker, timeout=2.0)
    patient = make_ping_asgi(broker, timeout=5.0)
    app = AsgiFastStream(broker, asgi_routes=[("/live", impatient), ("/ready", patient)])
    statuses: dict[str, int] = {}

    async def probe(path: str, after: float) -> None:
        await anyio.sleep(after)
        async with client(app) as c:
            statuses[path] = (await c.get(path)).status_code

    async with lifespan(app):
        own_nats_server.pause()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(probe, "/live", 0.0)
                tg.start_soon(probe, "/ready", 0.5)
                await anyio.sleep(3.0)
                own_nats_server.resume()
        finally:
            own_nats_server.resume()
    assert statuses == {"/live": 500, "/ready": 204}


async def test_probes_with_the_same_timeout_still_share_one_round_trip(nats_url: str) -> None:
    statuses, made = await probe_together(nats_url, timeout=5.0, count=20)
    assert statuses == [204] * 20
    assert made < 20


# Point 6: the ping is chosen by what the broker is.


async def health_status(app: object) -> int:
    async with client(app) as c:  # type: ignore[arg-type]
        return (await c.get("/health")).status_code



@pytest.mark.parametrize(
    ("broker_class", "test_broker"),
    [(RedisBroker, TestRedisBroker), (NatsBroker, TestNatsBroker)],
    ids=["redis", "nats"],
)
async def test_health_under_a_test_broker_answers_as_with_faststream(
    broker_class: type, test_broker: type
) -> None:
    statuses = []
    for app_class, ping in (
        (UpstreamAsgiFastStream, upstream_make_ping_asgi),
        (AsgiFastStream, make_ping_asgi),
    ):
        broker = broker_class()
        app = app_class(broker, asgi_routes=[("/health", ping(broker, timeout=2.0))])
        async with test_broker(broker):
            statuses.append(await health_status(app))
    assert statuses == [204, 204]


async def test_health_of_a_broker_without_a_round_trip_calls_the_brokers_own_ping() -> None:
    calls: list[float | None] = []

    class InMemoryBroker(RedisBroker):
        async def ping(self, timeout: float | None = 3) -> bool:
            calls.append(timeout)
            return True

    broker = InMemoryBroker()
    app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=1.5))])
    assert await health_status(app) == 204
    assert calls and 0 < calls[0] <= 1.5  # type: ignore[operator]


async def test_a_mock_connection_is_never_taken_for_a_nats_client() -> None:
    from unittest.mock import AsyncMock, MagicMock

    from anystream.nats.compat import Client as NativeNatsConnection

    calls: list[float | None] = []

    class MockedNatsBroker(NatsBroker):
        async def ping(self, timeout: float | None = 3) -> bool:
            calls.append(timeout)
            return True

    broker = MockedNatsBroker()
    app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=1.5))])
    for fake in (MagicMock(), AsyncMock(), MagicMock(spec=NativeNatsConnection)):
        broker.config.broker_config.connection_state.connect(fake, AsyncMock())
        assert await health_status(app) == 204
    # Each time the broker's own ping answered: no mock was asked for a round trip.
    assert len(calls) == 3


async def test_a_real_nats_broker_still_gets_the_real_round_trip(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    health = make_ping_asgi(broker, timeout=2.0)
    app = AsgiFastStream(broker, asgi_routes=[("/health", health)])
    from anystream.nats.compat import Client as NativeNatsConnection

    async with lifespan(app):
        # On anystream.nats: the round trip is the client's flush (PING/PONG).
        assert isinstance(broker._connection, NativeNatsConnection)
        assert await health_status(app) == 204
    assert health.round_trips == 1
