"""The protocol between the driver and its long-lived helper processes (sans-IO core).

A helper (load generator, publisher) is started once per run and imported once, so
no phase pays for a Python start-up. Per phase, over the helper's stdin/stdout:

1. the driver writes one JSON line: the phase's parameters and a ``result`` path;
2. the helper prepares and prints ``ready``;
3. the driver writes the common start time (``time.monotonic()``, system-wide on
   Linux) once every helper is ready, so no helper's own delay counts as latency;
4. the helper runs the phase, writes its figures as JSON to ``result``, prints ``done``.

An empty line or end of input ends the helper.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

__all__ = ("DONE", "READY", "command_loop")

READY = "ready"
DONE = "done"

Handler = Callable[[dict[str, Any], float], Awaitable[dict[str, Any]]]


async def _readline() -> str:
    return await anyio.to_thread.run_sync(sys.stdin.readline)


async def command_loop(handle: Handler) -> None:
    """Run phases as the driver asks until it closes stdin."""
    while line := (await _readline()).strip():
        command = json.loads(line)
        print(READY, flush=True)
        start = float(await _readline())
        result = await handle(command, start)
        await anyio.Path(command["result"]).write_text(json.dumps(result))
        print(DONE, flush=True)
