"""Shared fixtures: every async test runs on asyncio AND trio; NATS is a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from anystream.testing import NatsServer


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One nats-server for the session (tests that stop it use `own_nats_server`)."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def own_nats_server() -> Iterator[NatsServer]:
    """A nats-server for one test, free to be stopped and restarted."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def js_server() -> Iterator[NatsServer]:
    """One JetStream-enabled nats-server (store in a temporary folder) for the session."""
    with NatsServer(jetstream=True) as server:
        yield server


@pytest.fixture
def js_url(js_server: NatsServer) -> str:
    return js_server.url


@pytest.fixture
def subject(request: pytest.FixtureRequest) -> str:
    """A NATS subject unique to the test (tests share one server)."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)
    return f"test.{name}"


@pytest.fixture
def stream_name(request: pytest.FixtureRequest) -> str:
    """A stream (or bucket) name unique to the test (tests share one server)."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)
    return f"S_{name}"[:200]
