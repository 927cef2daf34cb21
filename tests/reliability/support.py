"""Helpers for the reliability tests: server processes, an outside NATS client, RSS.

Synchronous, like ``tests/e2e/servers.py`` (whose ``ServerProcess`` is reused): the
test process talks to the app from outside, as production traffic would.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from pathlib import Path

import anyio

import nats
from tests.e2e.servers import HYPERCORN_ASYNCIO, HYPERCORN_TRIO, UVICORN, Combo

APP = "tests.reliability.apps.faulty:app"

#: One server per backend for the slower fault tests: trio and asyncio.
BACKENDS = (HYPERCORN_TRIO, UVICORN)
#: All three for the cheap ones.
SERVERS = (HYPERCORN_TRIO, HYPERCORN_ASYNCIO, UVICORN)


def backend_of(combo: Combo) -> str:
    return "trio" if combo is HYPERCORN_TRIO else "asyncio"


class Records:
    """What the app's handlers appended to ``RECORD_FILE``: ``<kind> <id> <pid>`` lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[str, str, int]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            kind, ident, pid = line.split()
            out.append((kind, ident, int(pid)))
        return out

    def counts(self, kind: str) -> collections.Counter[str]:
        return collections.Counter(ident for k, ident, _ in self.lines() if k == kind)

    def wait_for(self, kind: str, ids: Iterable[str], timeout: float) -> collections.Counter[str]:
        """Until every id in ``ids`` was recorded as ``kind`` (or ``timeout``): the counts."""
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        counts = self.counts(kind)
        while not wanted <= counts.keys() and time.monotonic() < deadline:
            time.sleep(0.05)
            counts = self.counts(kind)
        return counts


def publish(url: str, subject: str, payloads: Iterable[str], *, jetstream: bool = False) -> None:
    """Publish with an independent nats-py connection (JetStream: each one acknowledged)."""

    async def main() -> None:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream() if jetstream else None
            for payload in payloads:
                if js is not None:
                    await js.publish(subject, payload.encode(), timeout=5)
                else:
                    await nc.publish(subject, payload.encode())
            await nc.flush()
        finally:
            await nc.close()

    anyio.run(main, backend="asyncio")


def worker_pid(pid: int) -> int:
    """The process that runs the app: hypercorn's worker (its largest child), else ``pid``.

    hypercorn's supervisor may also have a multiprocessing helper child.
    """
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return pid
    return max(children, key=rss_kib, default=pid)


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
