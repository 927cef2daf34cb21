"""trio's half of :mod:`anystream.runtime.tasks`: system tasks for work with no host.

Kept apart from ``_trio.py``, which imports trio-asyncio (that patches asyncio).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import trio


def spawn_system_task(fn: Callable[..., Awaitable[Any]], *args: Any, name: str) -> None:
    # A system task gets the system nursery's context by default; pass the caller's,
    # as asyncio.create_task does, so context variables reach the task.
    trio.lowlevel.spawn_system_task(fn, *args, name=name, context=contextvars.copy_context())
