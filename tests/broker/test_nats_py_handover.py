"""A ``faststream.nats.NatsBroker`` the app connected with nats-py itself, handed to anystream.

anystream runs NATS brokers on :mod:`anystream.nats` only. At lifespan start a broker that
is connected with nats-py but not consuming yet has that connection closed and is
connected with anystream.nats (one INFO line says so); a broker already consuming on
nats-py fails the start with the reason in ``lifespan.startup.failed``.

Each scenario runs in a fresh interpreter: a nats-py connection exists on trio only
inside a trio-asyncio loop, and importing trio-asyncio patches asyncio process-wide.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_SCRIPT = """
import logging, sys
import anyio
from faststream.nats import NatsBroker
from anystream.asgi import AsgiFastStream
from anystream.nats.compat import Client as CompatClient
from anystream.testing import LifespanFailed, lifespan

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
logging.getLogger("anystream").setLevel(logging.INFO)
backend, scenario, url, subject = sys.argv[1:]


async def in_asyncio(fn):
    # nats-py runs in asyncio: the host loop, or on trio the trio-asyncio loop we run in.
    if backend == "trio":
        import trio_asyncio

        return await trio_asyncio.aio_as_trio(fn)()
    return await fn()


async def connected(broker):
    seen = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        seen.append(body)

    await in_asyncio(broker.connect)
    assert type(broker._connection).__module__ == "nats.aio.client", broker._connection
    async with lifespan(AsgiFastStream(broker)):
        assert isinstance(broker.connection, CompatClient), broker.connection
        await broker.publish("hello", subject)
        with anyio.fail_after(10):
            while not seen:
                await anyio.sleep(0.01)
    print("consumed", *seen)


async def consuming(broker):
    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        pass

    await in_asyncio(broker.start)
    try:
        async with lifespan(AsgiFastStream(broker)):
            print("started")
    except LifespanFailed as exc:
        print("failed:", exc.message)
    finally:
        await in_asyncio(broker.stop)


async def main():
    broker = NatsBroker(url, logger=None)
    scenario_fn = connected if scenario == "connected" else consuming
    if backend == "trio":
        import trio_asyncio

        async with trio_asyncio.open_loop():
            await scenario_fn(broker)
    else:
        await scenario_fn(broker)


anyio.run(main, backend=backend)
"""

backends = pytest.mark.parametrize("backend", ["asyncio", "trio"])


def _run(
    backend: str, scenario: str, nats_url: str, subject: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, backend, scenario, nats_url, subject],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


@backends
def test_a_broker_connected_with_nats_py_is_reconnected_with_anystream_nats(
    backend: str, nats_url: str, subject: str
) -> None:
    result = _run(backend, "connected", nats_url, subject)

    assert result.stdout.split() == ["consumed", "hello"]
    handovers = [line for line in result.stderr.splitlines() if "nats-py" in line]
    assert len(handovers) == 1, result.stderr
    assert handovers[0].startswith("INFO:anystream:")
    assert "closing that connection to connect it with anystream.nats" in handovers[0]


@backends
def test_a_broker_already_consuming_on_nats_py_fails_the_start_with_the_reason(
    backend: str, nats_url: str, subject: str
) -> None:
    result = _run(backend, "consuming", nats_url, subject)

    assert result.stdout.startswith(
        "failed: BrokerAlreadyConsumingError: NatsBroker is "
        "already consuming on a nats-py connection"
    ), result.stdout
    assert "started" not in result.stdout.splitlines()
