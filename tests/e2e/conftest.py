"""Fixtures for end-to-end tests: real server processes, always killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import StartServer, server_starter

__all__ = ("StartServer",)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(combo, "examples.seed_ping:app", nats_url=...)``: a started server.

    Its output is captured to a file in ``tmp_path``; whatever is still running at
    the end of the test is killed (:func:`~tests.e2e.servers.server_starter`).
    """
    with server_starter(tmp_path) as start:
        yield start
