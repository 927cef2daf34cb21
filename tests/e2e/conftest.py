"""Fixtures for end-to-end tests: real server processes, always killed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .servers import Combo, ServerProcess

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(combo, "examples.seed_ping:app", nats_url=...)``: a started server.

    Its output is captured to a file in ``tmp_path``; whatever is still running at
    the end of the test is killed.
    """
    started: list[ServerProcess] = []

    def start(
        combo: Combo,
        app: str,
        *,
        nats_url: str,
        extra_args: tuple[str, ...] = (),
        wait: bool = True,
        **env: str,
    ) -> ServerProcess:
        log_path = tmp_path / f"{combo.id}-{len(started)}.log"
        server = ServerProcess(
            combo, app, nats_url=nats_url, log_path=log_path, extra_args=extra_args
        )
        server.env.update(env)
        server.start()
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.kill()
