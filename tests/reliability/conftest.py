"""Fixtures: the reliability app served by real server processes, killed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import Combo, ServerProcess, server_starter

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
    with server_starter(tmp_path) as start:

        def serve_app(
            combo: Combo,
            nats_url: str,
            *,
            extra_args: tuple[str, ...] = (),
            wait: bool = True,
            **env: str,
        ) -> ServerProcess:
            record = {"RECORD_FILE": str(records.path)}
            return start(
                combo, APP, nats_url=nats_url, extra_args=extra_args, wait=wait, **record, **env
            )

        yield serve_app
