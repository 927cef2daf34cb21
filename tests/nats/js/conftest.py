"""Fixtures of the JetStream tests: one ``nats-server -js`` per session, a stream per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from anystream import nats
from anystream.nats.js import JetStream
from anystream.testing import NatsServer


@pytest.fixture(scope="session")
def js_server() -> Iterator[NatsServer]:
    """A JetStream-enabled nats-server (store in a temporary folder) shared by the tests."""
    with NatsServer(jetstream=True) as server:
        yield server


@pytest.fixture
def js_url(js_server: NatsServer) -> str:
    return js_server.url


@pytest.fixture
def stream_name(request: pytest.FixtureRequest) -> str:
    """A stream name unique to the test (tests share one server)."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)
    return f"S_{name}"[:200]


@pytest.fixture
async def js(js_url: str) -> AsyncIterator[JetStream]:
    async with nats.connect(js_url) as nc:
        yield JetStream(nc)
