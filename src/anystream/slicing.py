"""Consumer time-slicing: keep the event loop responsive while a backlog is consumed.

Why: while messages wait, a faststream consumer never suspends. nats-py's
subscription task awaits ``queue.get()``, which returns at once while the queue
holds items, and faststream's consume path completes without suspending too, so
the event loop does not get back to the HTTP connections (``/health``) until the
backlog is gone. Under sustained overload that is never.

What: :class:`TimeSlicer` is a faststream broker middleware that the runtime adds
to each broker it starts. Before a message is handled it checks how long the
consumer has run since it last yielded; once that exceeds the *budget* it yields
to the event loop (``anyio.sleep(0)``, in the broker's asyncio loop, also on trio
through trio-asyncio). It yields once per budget, not after every message, so
consumption keeps its throughput.

It also counts messages that nats-py drops for a slow consumer (its subscription
queue is full: ``SlowConsumerError`` through the error callback), logs them once
per interval instead of once per message, and exposes the counts:
``anystream.slicing.stats(broker)``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from weakref import WeakKeyDictionary

import anyio.lowlevel
from faststream import BaseMiddleware

__all__ = (
    "DEFAULT_CONSUME_BUDGET",
    "DEFAULT_LOG_INTERVAL",
    "ConsumeStats",
    "TimeSlicer",
    "install",
    "stats",
)

logger = logging.getLogger("anystream.slicing")

#: Seconds a consumer may run without yielding to the event loop (5 ms).
DEFAULT_CONSUME_BUDGET = 0.005

#: At most one slow-consumer log line per this many seconds (per broker).
DEFAULT_LOG_INTERVAL = 10.0

_clock = time.perf_counter


@dataclass
class ConsumeStats:
    """Counters of one broker's consumption, kept by anystream's runtime."""

    #: Messages that entered a handler (through the slicing middleware).
    consumed: int = 0
    #: Times the consumer yielded to the event loop because its budget was spent.
    yields: int = 0
    #: Messages nats-py dropped because a subscription's pending queue was full.
    slow_consumer_dropped: int = 0
    #: The same, by subject.
    slow_consumer_by_subject: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for a metrics route)."""
        return {
            "consumed": self.consumed,
            "yields": self.yields,
            "slow_consumer_dropped": self.slow_consumer_dropped,
            "slow_consumer_by_subject": dict(self.slow_consumer_by_subject),
        }


class _Slice(BaseMiddleware):
    """Per-message half of :class:`TimeSlicer` (faststream builds one per message)."""

    __slots__ = ("_slicer",)

    def __init__(self, msg: Any, /, *, context: Any, slicer: TimeSlicer) -> None:
        self.msg = msg
        self.context = context
        self._slicer = slicer

    async def __aenter__(self) -> _Slice:
        await self._slicer.checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool:
        return False


class TimeSlicer:
    """A faststream broker middleware that yields once ``budget`` seconds are spent.

    ``budget=None`` turns yielding off (the counters still run); ``0`` yields
    before every message. One instance per broker: ``install(broker, budget)``.
    """

    def __init__(
        self,
        budget: float | None = DEFAULT_CONSUME_BUDGET,
        *,
        log_interval: float = DEFAULT_LOG_INTERVAL,
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"consume budget must be >= 0 seconds or None, got {budget!r}")
        self.budget = budget
        self.log_interval = log_interval
        self.stats = ConsumeStats()
        self._since = _clock()
        self._unlogged = 0
        self._unlogged_subjects: Counter[str] = Counter()
        self._last_log: float | None = None

    # faststream's BrokerMiddleware protocol: called once per message.
    def __call__(self, msg: Any, /, *, context: Any) -> _Slice:
        return _Slice(msg, context=context, slicer=self)

    async def checkpoint(self) -> None:
        """Yield to the event loop if the budget is spent since the last yield."""
        self.stats.consumed += 1
        budget = self.budget
        if budget is None:
            return
        now = _clock()
        if now - self._since >= budget:
            self.stats.yields += 1
            await anyio.lowlevel.checkpoint()
            self._since = _clock()

    # Slow consumers

    def record_slow_consumer(self, subject: str) -> None:
        """Count one message dropped for a slow consumer; log at most once per interval."""
        self.stats.slow_consumer_dropped += 1
        self.stats.slow_consumer_by_subject[subject] += 1
        self._unlogged += 1
        self._unlogged_subjects[subject] += 1
        now = time.monotonic()
        if self._last_log is None or now - self._last_log >= self.log_interval:
            self.flush_log(now)

    def flush_log(self, now: float | None = None) -> None:
        """Log the drops not reported yet (also called when the broker stops)."""
        if not self._unlogged:
            return
        subjects = ", ".join(f"{s}={n}" for s, n in self._unlogged_subjects.most_common(5))
        logger.warning(
            "slow consumer: the NATS client dropped %d message(s) (%s); %d in total. "
            "Handlers are slower than the offered rate: scale out, raise the "
            "subscriber's pending_msgs_limit/pending_bytes_limit, or publish less.",
            self._unlogged,
            subjects,
            self.stats.slow_consumer_dropped,
        )
        self._unlogged = 0
        self._unlogged_subjects.clear()
        self._last_log = time.monotonic() if now is None else now

    def wrap_error_cb(
        self, inner: Callable[[Exception], Awaitable[None]] | None
    ) -> Callable[[Exception], Awaitable[None]]:
        """An error callback that counts slow-consumer drops and passes the rest on."""
        from nats.errors import SlowConsumerError

        async def error_cb(err: Exception) -> None:
            if isinstance(err, SlowConsumerError):
                # One per dropped message: counting, not logging, and not passed on
                # (faststream would log a warning for every single one).
                self.record_slow_consumer(str(getattr(err, "subject", "") or "?"))
                return
            if inner is not None:
                await inner(err)

        error_cb._anystream_slicer = self  # type: ignore[attr-defined]
        return error_cb


_slicers: WeakKeyDictionary[Any, TimeSlicer] = WeakKeyDictionary()


def install(broker: Any, budget: float | None = DEFAULT_CONSUME_BUDGET) -> TimeSlicer:
    """Add time-slicing and slow-consumer counting to ``broker`` (before it starts).

    Idempotent: a second call only updates the budget. Returns the broker's slicer.
    """
    slicer = _slicers.get(broker)
    if slicer is None:
        slicer = _slicers[broker] = TimeSlicer(budget)
        # Outermost, so the yield happens before any other middleware's work.
        broker.insert_middleware(slicer)
        kwargs = getattr(broker, "_connection_kwargs", None)
        if isinstance(kwargs, dict) and _is_nats(broker):
            current = kwargs.get("error_cb")
            if getattr(current, "_anystream_slicer", None) is None:
                kwargs["error_cb"] = slicer.wrap_error_cb(current)
    else:
        if budget is not None and budget < 0:
            raise ValueError(f"consume budget must be >= 0 seconds or None, got {budget!r}")
        slicer.budget = budget
    return slicer


def stats(broker: Any) -> ConsumeStats:
    """The consumption counters of ``broker`` (zeros if anystream never ran it)."""
    slicer = _slicers.get(broker)
    return slicer.stats if slicer is not None else ConsumeStats()


def slicer_for(broker: Any) -> TimeSlicer | None:
    """The slicer :func:`install` added to ``broker``, if any."""
    return _slicers.get(broker)


def _is_nats(broker: Any) -> bool:
    return type(broker).__module__.startswith("faststream.nats")
