"""A plain ``faststream.nats.NatsBroker`` handed to anystream runs on anystream's client.

Users keep ``from faststream.nats import NatsBroker``: ``AsgiFastStream``,
``anystream.FastStream`` and ``broker_lifespan()`` put it on :mod:`anystream.nats`
(``anystream.nats.broker.adopt``), on asyncio and trio alike, with no trio-asyncio.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import anyio
import pytest
import sniffio
from faststream.nats import NatsBroker

from anystream import FastStream, broker_lifespan
from anystream.asgi import AsgiFastStream
from anystream.nats.broker import adopt, is_native
from anystream.nats.compat import Client as CompatClient
from anystream.testing import lifespan
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_bridge() -> Iterator[None]:
    yield
    assert "trio_asyncio" not in sys.modules, "NATS must not need trio-asyncio"


def test_only_nats_brokers_not_yet_connected_are_adopted() -> None:
    assert adopt(NatsBroker()) is True
    assert adopt(object()) is False
    connected = NatsBroker()
    connected._connection = object()  # type: ignore[assignment]
    assert adopt(connected) is False and not is_native(connected)


async def test_a_broker_in_asgi_faststream_runs_on_anystream_nats(
    nats_url: str, subject: str, anyio_backend_name: str
) -> None:
    broker = NatsBroker(nats_url)
    seen: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(sniffio.current_async_library())

    async with lifespan(AsgiFastStream(broker)):
        assert isinstance(broker.connection, CompatClient)
        await broker.publish("x", subject)
        await wait_until(lambda: seen == [anyio_backend_name])
    assert broker._connection is None


async def test_a_broker_in_broker_lifespan_runs_on_anystream_nats(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url)
    async with broker_lifespan(broker):
        assert isinstance(broker.connection, CompatClient)
        assert broker.connection.is_connected


async def test_anystream_faststream_adopts_its_brokers(nats_url: str, subject: str) -> None:
    broker = NatsBroker(nats_url)
    app = FastStream(broker)
    assert is_native(broker)
    async with lifespan(app.as_asgi()):
        assert isinstance(broker.connection, CompatClient)


async def test_the_connection_belongs_to_the_lifespan(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    async with broker_lifespan(broker):
        native = broker.connection.native
        assert native.is_connected
    assert native.is_closed  # closed before broker_lifespan returned


async def test_a_failing_start_is_raised_unwrapped_from_broker_lifespan() -> None:
    from anystream.broker import BrokerStartupTimeout
    from anystream.testing import free_port

    broker = NatsBroker(f"nats://127.0.0.1:{free_port()}", reconnect_time_wait=0.1)
    with anyio.fail_after(10), pytest.raises(BrokerStartupTimeout):
        async with broker_lifespan(broker, startup_timeout=0.5):
            pytest.fail("the start must fail")


_BRIDGE_SCRIPT = """
import sys, anyio, sniffio
from anystream import broker_lifespan

class AsyncioOnlyBroker:  # stands for Kafka/RabbitMQ/Redis: an asyncio-only client
    class config:
        class broker_config:
            producer = None
    started_in = None
    stopped = False
    async def start(self):
        import asyncio
        await asyncio.sleep(0)  # fails outside an asyncio loop
        self.started_in = sniffio.current_async_library()
    async def stop(self):
        self.stopped = True
    def insert_middleware(self, middleware): pass
    def add_middleware(self, middleware): pass

async def main():
    broker = AsyncioOnlyBroker()
    async with broker_lifespan(broker, consume_budget=None, redelivery_memory=None):
        assert broker.started_in == "asyncio", broker.started_in
    assert broker.stopped
    print("bridged" if "trio_asyncio" in sys.modules else "direct")

anyio.run(main, backend=sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_brokers_without_a_native_client_run_through_the_bridge_on_trio_only(
    backend: str,
) -> None:
    # In a fresh interpreter: importing trio-asyncio patches asyncio process-wide.
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", _BRIDGE_SCRIPT, backend],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["bridged" if backend == "trio" else "direct"]


async def test_health_pings_of_an_adopted_broker_are_round_trips_on_anystream_nats(
    nats_url: str,
) -> None:
    from anystream import ping_broker
    from anystream.health._ping import shared_ping

    broker = NatsBroker(nats_url)
    async with broker_lifespan(broker):
        assert isinstance(broker.connection, CompatClient)
        before = shared_ping(broker).round_trips
        assert await ping_broker(broker, timeout=5)
        assert shared_ping(broker).round_trips == before + 1
