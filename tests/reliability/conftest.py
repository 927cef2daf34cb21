"""Fixtures: the reliability app served by real server processes, killed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import Combo, ServerProcess

from .support import APP, Records

Serve = Callable[..., ServerProcess]


@pytest.fixture
def records(tmp_path: Path) -> Records:
    return Records(tmp_path / "handled.txt")


@pytest.fixture
def serve(tmp_path: Path, records: Records) -> Iterator[Serve]:
    """``serve(combo, nats_url, **env)``: the reliability app, started and answering HTTP.

    Its handlers record into ``records``; its output goes to a log file (``.output``).
    """
    started: list[ServerProcess] = []

    def start(
        combo: Combo,
        nats_url: str,
        *,
        extra_args: tuple[str, ...] = (),
        wait: bool = True,
        **env: str,
    ) -> ServerProcess:
        log_path = tmp_path / f"{combo.id}-{len(started)}.log"
        server = ServerProcess(
            combo, APP, nats_url=nats_url, log_path=log_path, extra_args=extra_args
        )
        server.env.update(RECORD_FILE=str(records.path), **env)
        server.start()
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.kill()
