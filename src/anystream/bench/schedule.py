"""Open-loop schedules: when the i-th request or message is due.

Latency in an open-loop test is measured from the moment a request was *due*, not
from when a busy client got round to sending it, so a stalled server shows up as
queueing delay instead of silently lowering the offered load (coordinated omission).
"""

from __future__ import annotations

import math

__all__ = ("due_at", "due_count")


def due_at(index: int, rate: float, start: float) -> float:
    """The time the ``index``-th event (from 0) is due, at ``rate`` per second."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    return start + index / rate


def due_count(now: float, rate: float, start: float, limit: int | None = None) -> int:
    """How many events are due by ``now`` (events at exactly ``now`` included)."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    if now < start:
        return 0
    count = math.floor((now - start) * rate + 1e-9) + 1
    return count if limit is None else min(count, limit)
