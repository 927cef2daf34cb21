"""The lifespan: brokers connected before startup completes, failures reported, clean stops."""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
import pytest
from faststream import ContextRepo
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, get
from anystream.testing import LifespanFailed, NatsServer, free_port, lifespan
from tests.helpers import client, publish_from_outside, wait_until

pytestmark = pytest.mark.anyio


async def test_startup_completes_only_once_the_broker_is_connected_and_consuming(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url)
    received: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        received.append(body)

    app = AsgiFastStream(broker)
    async with lifespan(app):
        # No waiting: the subscription exists the moment startup is complete.
        assert broker._connection is not None and broker._connection.is_connected
        await publish_from_outside(nats_url, subject, b"first")
        await wait_until(lambda: received == ["first"])


async def test_unreachable_nats_fails_startup_with_the_reason() -> None:
    port = free_port()
    broker = NatsBroker(
        f"nats://user:secret@127.0.0.1:{port}", connect_timeout=0.5, max_reconnect_attempts=1
    )
    app = AsgiFastStream(broker)
    with anyio.fail_after(20):
        with pytest.raises(LifespanFailed) as failure:
            async with lifespan(app):
                pytest.fail("startup must not complete")
    assert failure.value.phase == "startup"
    assert "secret" not in failure.value.message
    assert failure.value.message  # the reason, e.g. "NoServersError: ..."


async def test_hooks_run_in_faststream_order_around_the_broker(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    events: list[str] = []

    def connected() -> str:
        return "connected" if broker._connection is not None else "not connected"

    @asynccontextmanager
    async def user_lifespan(context: ContextRepo):
        events.append("lifespan enter")
        yield
        events.append("lifespan exit")

    app = AsgiFastStream(
        broker,
        lifespan=user_lifespan,
        on_startup=[lambda: events.append(f"on_startup ({connected()})")],
        after_startup=[lambda: events.append(f"after_startup ({connected()})")],
        on_shutdown=[lambda: events.append(f"on_shutdown ({connected()})")],
        after_shutdown=[lambda: events.append(f"after_shutdown ({connected()})")],
    )
    async with lifespan(app):
        events.append("serving")
    assert events == [
        "lifespan enter",
        "on_startup (not connected)",
        "after_startup (connected)",
        "serving",
        "on_shutdown (connected)",
        "after_shutdown (not connected)",
        "lifespan exit",
    ]


async def test_a_startup_hook_that_raises_fails_startup_and_stops_nothing_half_open(
    nats_url: str,
) -> None:
    broker = NatsBroker(nats_url)

    def explode() -> None:
        raise RuntimeError("config missing")

    app = AsgiFastStream(broker, after_startup=[explode])
    with pytest.raises(LifespanFailed) as failure:
        async with lifespan(app):
            pass
    assert failure.value.message == "RuntimeError: config missing"
    assert broker._connection is None  # the broker that did connect was stopped again


async def test_a_shutdown_hook_that_raises_reports_shutdown_failed_without_hanging(
    nats_url: str,
) -> None:
    broker = NatsBroker(nats_url)

    def explode() -> None:
        raise RuntimeError("flush failed")

    app = AsgiFastStream(broker, on_shutdown=[explode])
    with anyio.fail_after(10), pytest.raises(LifespanFailed) as failure:
        async with lifespan(app):
            pass
    assert failure.value.phase == "shutdown"
    assert "flush failed" in failure.value.message
    assert broker._connection is None  # the broker was still stopped


async def test_a_missing_extra_option_fails_startup_naming_it(nats_url: str) -> None:
    broker = NatsBroker(nats_url)

    def needs_env(env: str) -> None: ...

    app = AsgiFastStream(broker, on_startup=[needs_env])
    with pytest.raises(LifespanFailed) as failure:
        async with lifespan(app):
            pass
    assert failure.value.message == "missing options: env"


async def test_state_yielded_by_the_lifespan_reaches_requests(nats_url: str) -> None:
    broker = NatsBroker(nats_url)

    @asynccontextmanager
    async def user_lifespan(context: ContextRepo):
        yield {"db": "pool-1"}

    @get
    async def which_db(scope):
        return AsgiResponse(scope["state"]["db"].encode())

    app = AsgiFastStream(broker, lifespan=user_lifespan, asgi_routes=[("/db", which_db)])
    async with lifespan(app) as state:
        assert state == {"db": "pool-1"}
        # Servers shallow-copy the lifespan state into every request scope.
        async with client(_with_state(app, state)) as c:
            assert (await c.get("/db")).text == "pool-1"


def _with_state(app, state):
    async def asgi(scope, receive, send):
        await app({**scope, "state": dict(state)}, receive, send)

    return asgi


def slow_handler_app(
    nats_url: str, subject: str, seconds: float
) -> tuple[AsgiFastStream, anyio.Event, list[str]]:
    """An app whose handler of ``subject`` sets the event, takes ``seconds``, then records."""
    broker = NatsBroker(nats_url)
    started, finished = anyio.Event(), []

    @broker.subscriber(subject)
    async def slow(body: str) -> None:
        started.set()
        await anyio.sleep(seconds)
        finished.append(body)

    return AsgiFastStream(broker), started, finished


async def test_shutdown_lets_an_in_flight_handler_finish(nats_url: str, subject: str) -> None:
    app, started, finished = slow_handler_app(nats_url, subject, 0.5)
    (broker,) = app.brokers
    async with lifespan(app):
        await broker.publish("work", subject)
        with anyio.fail_after(5):
            await started.wait()
    assert finished == ["work"]


async def test_shutdown_still_drains_when_the_server_cancels_the_lifespan(
    nats_url: str, subject: str
) -> None:
    app, started, finished = slow_handler_app(nats_url, subject, 0.3)
    (broker,) = app.brokers
    with anyio.CancelScope() as scope:
        async with lifespan(app):
            await broker.publish("work", subject)
            with anyio.fail_after(5):
                await started.wait()
            scope.cancel()  # the server gives up on us mid-flight
            await anyio.sleep_forever()
    assert finished == ["work"]
    assert broker._connection is None


async def test_the_broker_reconnects_after_the_server_restarts(
    own_nats_server: NatsServer, subject: str
) -> None:
    broker = NatsBroker(own_nats_server.url, reconnect_time_wait=0.1)
    received: list[str] = []

    @broker.subscriber(subject)
    async def handle(body: str) -> None:
        received.append(body)

    app = AsgiFastStream(broker)
    async with lifespan(app):
        own_nats_server.stop()
        own_nats_server.start()
        with anyio.fail_after(10):
            while not received:
                # Publish until the restored subscription receives one.
                if broker._connection is not None and broker._connection.is_connected:
                    await broker.publish("again", subject)
                await anyio.sleep(0.1)
    assert received[0] == "again"


async def test_a_broker_that_keeps_retrying_fails_startup_at_startup_timeout() -> None:
    # nats-py's defaults retry an unreachable server for about two minutes.
    broker = NatsBroker(f"nats://127.0.0.1:{free_port()}", reconnect_time_wait=0.2)
    app = AsgiFastStream(broker, startup_timeout=1.0)
    with anyio.fail_after(15), pytest.raises(LifespanFailed) as failure:
        async with lifespan(app):
            pytest.fail("startup must not complete")
    assert "NatsBroker did not connect within 1.0 s" in failure.value.message
