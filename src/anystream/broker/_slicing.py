"""Consumer time-slicing: keep the event loop responsive while a backlog is consumed.

Why: while messages wait, a faststream consumer never suspends. A subscription task
that takes from a queue returns at once while the queue holds items, and faststream's
consume path completes without suspending too, so the event loop does not get back to
the HTTP connections (``/health``) until the backlog is gone. Under sustained overload
that is never.

What: :class:`TimeSlicer` is a faststream broker middleware that the runtime adds
to each broker it starts. Before a message is handled it checks how long the
consumer has run since it last yielded; once that exceeds the *budget* it yields
to the event loop (an anyio checkpoint, where the broker's consumer runs). It yields
once per budget, not after every message, so consumption keeps its throughput.

NATS brokers run on :mod:`anystream.nats`, whose reader paces itself (it parses small
pieces while its subscriptions hold a backlog): nothing here touches the connection.

The slicer also counts messages the client drops for a slow consumer (a subscription's
pending queue is full), read from the client's subscriptions (``dropped``), logs them
once per interval instead of once per message, and exposes the counts:
``anystream.broker.stats(broker)``.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.lowlevel

from .._adapters.faststream import Shared, connection
from ._protocol import BrokerLike
from ._record import find_record, record_for

__all__ = (
    "DEFAULT_CONSUME_BUDGET",
    "DEFAULT_LOG_INTERVAL",
    "ConsumeStats",
    "TimeSlicer",
    "install",
    "stats",
)

logger = logging.getLogger("anystream.slicing")

#: Seconds a consumer may run without yielding to the event loop (2 ms).
DEFAULT_CONSUME_BUDGET = 0.002

#: At most one slow-consumer log line per this many seconds (per broker).
DEFAULT_LOG_INTERVAL = 10.0

#: Seconds between two reads of the client's slow-consumer drop counts while consuming.
DROPS_SYNC_INTERVAL = 0.1

_clock = time.perf_counter


@dataclass
class ConsumeStats:
    """Counters of one broker's consumption, kept by anystream's runtime."""

    #: Messages that entered a handler (through the slicing middleware).
    consumed: int = 0
    #: Times the consumer yielded to the event loop because its budget was spent.
    yields: int = 0
    #: Messages the NATS client dropped because a subscription's pending queue was full.
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
        #: On anystream.nats: the client's drop counts by subject (read, not pushed).
        self.drops_source: Callable[[], Counter[str] | None] | None = None
        self._drops_seen: Counter[str] = Counter()
        self._next_drops_sync = 0.0
        # What faststream enters around every message: one object, nothing per message.
        self._shared = Shared(self, enter=self.checkpoint)

    # faststream's BrokerMiddleware protocol: called once per message (and publish).
    def __call__(self, msg: Any, /, *, context: Any) -> Shared:
        return self._shared

    async def checkpoint(self) -> None:
        """Yield to the event loop if the budget is spent since the last yield."""
        self.stats.consumed += 1
        budget = self.budget
        if budget is None:
            return
        now = _clock()
        if now - self._since >= budget:
            self.stats.yields += 1
            if now >= self._next_drops_sync:
                # Drops are counted by the client: read them a few times a second, not
                # at every yield (stats() and the final log read them too).
                self._next_drops_sync = now + DROPS_SYNC_INTERVAL
                self.sync_slow_consumers()
            await anyio.lowlevel.checkpoint()
            self._since = _clock()

    # Slow consumers

    def sync_slow_consumers(self) -> None:
        """Count the drops the native client made since the last call (anystream.nats)."""
        source = self.drops_source
        if source is None:
            return
        drops = source()
        if not drops:
            return
        for subject, total in drops.items():
            new = total - self._drops_seen[subject]
            if new > 0:
                self._drops_seen[subject] = total
                self.record_slow_consumer(subject, new)

    def record_slow_consumer(self, subject: str, count: int = 1) -> None:
        """Count messages dropped for a slow consumer; log at most once per interval."""
        self.stats.slow_consumer_dropped += count
        self.stats.slow_consumer_by_subject[subject] += count
        self._unlogged += count
        self._unlogged_subjects[subject] += count
        now = time.monotonic()
        if self._last_log is None or now - self._last_log >= self.log_interval:
            self.flush_log(now)

    def flush_log(self, now: float | None = None) -> None:
        """Log the drops not reported yet (also called when the broker stops)."""
        if now is None:
            self.sync_slow_consumers()
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


def install(broker: BrokerLike, budget: float | None = DEFAULT_CONSUME_BUDGET) -> TimeSlicer:
    """Add time-slicing and slow-consumer counting to ``broker`` (before it starts).

    Idempotent: a second call only updates the budget. Returns the broker's slicer.
    """
    record = record_for(broker)
    slicer = record.slicer
    if slicer is None:
        ref = weakref.ref(broker)  # the slicer must not keep its broker alive
        slicer = record.slicer = TimeSlicer(budget)
        if _is_native_nats(broker):

            def drops() -> Counter[str] | None:
                source = getattr(connection(ref()), "slow_consumer_drops", None)
                return source() if callable(source) else None

            slicer.drops_source = drops
        # Outermost, so the yield happens before any other middleware's work.
        broker.insert_middleware(slicer)
    else:
        if budget is not None and budget < 0:
            raise ValueError(f"consume budget must be >= 0 seconds or None, got {budget!r}")
        slicer.budget = budget
    return slicer


def stats(broker: BrokerLike) -> ConsumeStats:
    """The consumption counters of ``broker`` (zeros if anystream never ran it)."""
    slicer = slicer_for(broker)
    if slicer is None:
        return ConsumeStats()
    slicer.sync_slow_consumers()
    return slicer.stats


def slicer_for(broker: BrokerLike) -> TimeSlicer | None:
    """The slicer :func:`install` added to ``broker``, if any."""
    record = find_record(broker)
    return None if record is None else record.slicer


def _is_native_nats(broker: BrokerLike) -> bool:
    from ..nats.broker import is_native

    return is_native(broker)
