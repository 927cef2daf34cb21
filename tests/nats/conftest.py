"""Fixtures of the NATS client tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from anystream.testing import NatsServer


@pytest.fixture
def server_factory() -> Iterator[Callable[..., NatsServer]]:
    """Start servers for one test; every one is stopped at the end."""
    servers: list[NatsServer] = []

    def start(server: NatsServer) -> NatsServer:
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()
