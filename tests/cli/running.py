"""An `anystream run` process for the tests (the `run` fixture in conftest.py starts them)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx

from tests.helpers import kill_group, spawn_logged, wait_http

ROOT = Path(__file__).resolve().parents[2]


class Run:
    """An `anystream run` process with its output in a file; killed with its group."""

    def __init__(self, args: list[str], nats_url: str, log: Path, **popen: object) -> None:
        self.log = log
        self.proc = spawn_logged(
            [sys.executable, "-m", "anystream", "run", *args],
            log,
            cwd=ROOT,
            env={**os.environ, "NATS_URL": nats_url, "PYTHONUNBUFFERED": "1"},
            **popen,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, url: str, *, transport: httpx.HTTPTransport | None = None) -> None:
        with httpx.Client(transport=transport, timeout=2) as client:
            wait_http(self.proc, url, lambda: self.output, status=204, client=client)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        kill_group(self.proc)
