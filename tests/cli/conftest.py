"""`anystream run` tests: each test gets a nats-server of its own and the `run` fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anystream.testing import NatsServer

from .running import Run


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A nats-server of the test's own: the apps' queue groups start empty."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def run(tmp_path: Path, nats_server: NatsServer) -> Iterator[Callable[..., Run]]:
    """``run(*args)``: an ``anystream run`` process against the test's nats-server."""
    started: list[Run] = []

    def start(*args: str, **popen: object) -> Run:
        process = Run(list(args), nats_server.url, tmp_path / f"run{len(started)}.log", **popen)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
