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

Each yield also hands nats-py's reader a turn, and the reader parses everything
that has arrived without suspending (a socket read brings up to 256 KiB): under
overload it parsed every offered message into the client's queue and took as much
CPU as the handlers (measured with py-spy). So the slicer also paces the reader
(:class:`_PacedRead`, on any event loop: asyncio, uvloop, trio-asyncio): it parses
at most 16 KiB per read while the client holds fewer than ``backlog_limit``
messages (default 512); once it holds more, the reader yields before each read and
parses 2 KiB. A few dozen messages per event-loop turn still prove the connection
alive (``anystream.ping`` counts fresh traffic), the server holds the excess (TCP
backpressure, as without slicing), and the CPU goes to the handlers.

It also counts messages that nats-py drops for a slow consumer (its subscription
queue is full: ``SlowConsumerError`` through the error callback), logs them once
per interval instead of once per message, and exposes the counts:
``anystream.slicing.stats(broker)``.
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import anyio.lowlevel

from ._middleware import PerMessage

__all__ = (
    "DEFAULT_BACKLOG_LIMIT",
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

#: Client-side backlog (messages queued in a connection's subscriptions) from which
#: the NATS reader parses small pieces only (``DEFAULT_TRICKLE_BYTES``), yielding first.
DEFAULT_BACKLOG_LIMIT = 512

#: Bytes per NATS read (parsed without suspending) while the backlog is under the
#: limit (a whole 256 KiB socket read is a ~20 ms parse on this machine).
DEFAULT_READ_BYTES = 16384

#: Bytes per NATS read once the backlog limit is reached.
DEFAULT_TRICKLE_BYTES = 2048

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
    #: NATS reads held to ``trickle_bytes`` (after a yield) because the client-side
    #: backlog was at or over the limit.
    held_reads: int = 0
    #: Messages nats-py dropped because a subscription's pending queue was full.
    slow_consumer_dropped: int = 0
    #: The same, by subject.
    slow_consumer_by_subject: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for a metrics route)."""
        return {
            "consumed": self.consumed,
            "yields": self.yields,
            "held_reads": self.held_reads,
            "slow_consumer_dropped": self.slow_consumer_dropped,
            "slow_consumer_by_subject": dict(self.slow_consumer_by_subject),
        }


class _PacedRead:
    """nats-py's transport ``read``, paced by the client-side backlog.

    nats-py's reader task loops ``read(32 KiB)`` then parses the bytes without
    suspending, and the stream under it returns at once while its buffer holds
    data (a socket read can bring 256 KiB). So each event-loop turn the reader
    parsed everything that had arrived. Through this wrapper it parses at most
    ``read_bytes`` per read while the client holds fewer than ``backlog_limit``
    messages; over the limit, it yields to the event loop before each read and
    reads ``trickle_bytes``. The excess waits in the stream's buffer, which then
    stops reading the socket, so the kernel and nats-server hold the rest (TCP
    backpressure). Works on any event loop (asyncio, uvloop, trio-asyncio): it
    sizes the parse, not the socket read.
    """

    __slots__ = ("_client", "_inner", "_slicer")

    def __init__(self, slicer: TimeSlicer, client: Any, inner: Callable[[int], Awaitable[bytes]]):
        self._slicer = slicer
        self._client = client
        self._inner = inner

    async def __call__(self, size: int) -> bytes:
        slicer = self._slicer
        limit = slicer.backlog_limit
        if limit is not None and slicer.backlog(self._client) >= limit:
            slicer._trickling = True
            slicer.stats.held_reads += 1
            await anyio.lowlevel.checkpoint()
            size = min(size, slicer.trickle_bytes)
        else:
            slicer._trickling = False
            size = min(size, slicer.read_bytes)
        return await self._inner(size)


class _Slice(PerMessage):
    """Per-message half of :class:`TimeSlicer`: yield first if the budget is spent."""

    __slots__ = ()

    async def __aenter__(self) -> _Slice:
        await self.owner.checkpoint()
        return self


class TimeSlicer:
    """A faststream broker middleware that yields once ``budget`` seconds are spent.

    ``budget=None`` turns yielding off (the counters still run); ``0`` yields
    before every message. One instance per broker: ``install(broker, budget)``.

    ``backlog_limit``: from this many messages queued in the client, a yield does
    not let the NATS socket be read (``None``: always read, the server never holds
    the excess). ``connection`` returns the broker's nats-py client (or ``None``).
    """

    def __init__(
        self,
        budget: float | None = DEFAULT_CONSUME_BUDGET,
        *,
        log_interval: float = DEFAULT_LOG_INTERVAL,
        backlog_limit: int | None = DEFAULT_BACKLOG_LIMIT,
        connection: Callable[[], Any] | None = None,
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"consume budget must be >= 0 seconds or None, got {budget!r}")
        if backlog_limit is not None and backlog_limit < 1:
            raise ValueError(f"backlog limit must be >= 1 message or None, got {backlog_limit!r}")
        self.budget = budget
        self.backlog_limit = backlog_limit
        self._connection = connection
        self.read_bytes = DEFAULT_READ_BYTES
        self.trickle_bytes = DEFAULT_TRICKLE_BYTES
        self._trickling = False
        self.log_interval = log_interval
        self.stats = ConsumeStats()
        self._since = _clock()
        self._unlogged = 0
        self._unlogged_subjects: Counter[str] = Counter()
        self._last_log: float | None = None

    @property
    def trickling(self) -> bool:
        """True while NATS reads are held to ``trickle_bytes`` (backlog over the limit)."""
        return self._trickling

    # faststream's BrokerMiddleware protocol: called once per message.
    def __call__(self, msg: Any, /, *, context: Any) -> _Slice:
        return _Slice(msg, context=context, owner=self)

    async def checkpoint(self) -> None:
        """Yield to the event loop if the budget is spent since the last yield."""
        self.stats.consumed += 1
        budget = self.budget
        if budget is None:
            return
        now = _clock()
        if now - self._since >= budget:
            self.stats.yields += 1
            self._pace_reads()
            await anyio.lowlevel.checkpoint()
            self._since = _clock()

    def _pace_reads(self) -> None:
        """Make sure the connection's current transport reads through :class:`_PacedRead`.

        Called at each yield: nats-py makes a new transport on every (re)connect, so
        the first yield after one paces the new transport too.
        """
        if self.backlog_limit is None or self._connection is None:
            return
        client = self._connection()
        transport = getattr(client, "_transport", None)
        if transport is None or isinstance(transport.__dict__.get("read"), _PacedRead):
            return
        inner = getattr(transport, "read", None)
        if callable(inner) and isinstance(getattr(client, "_subs", None), dict):
            transport.read = _PacedRead(self, client, inner)

    def backlog(self, client: Any) -> int:
        """Messages queued in the client's subscriptions, not handled yet."""
        backlog = 0
        for sub in client._subs.values():
            backlog += getattr(sub, "pending_msgs", 0)
        return backlog

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

        users_cb = users_error_cb(inner)

        async def error_cb(err: Exception) -> None:
            if isinstance(err, SlowConsumerError):
                # One per dropped message: counted and logged once per interval here,
                # not through faststream's wrapper (a warning for every single one);
                # the user's own error_cb still sees each, as with faststream.
                self.record_slow_consumer(str(getattr(err, "subject", "") or "?"))
                if users_cb is not None:
                    await users_cb(err)
                return
            if inner is not None:
                await inner(err)

        error_cb._anystream_slicer = self  # type: ignore[attr-defined]
        return error_cb


#: faststream's NatsBroker wraps the user's ``error_cb`` in this closure (it logs).
FASTSTREAM_ERROR_CB_WRAPPER = "_log_connection_broken.<locals>.wrapper"


def users_error_cb(
    callback: Callable[[Exception], Awaitable[None]] | None,
) -> Callable[[Exception], Awaitable[None]] | None:
    """The ``error_cb`` the user gave ``NatsBroker``, out of faststream's logging wrapper.

    faststream's wrapper keeps the user's callback in its closure as ``error_cb``
    (faststream 0.7; tests/slicing/test_error_cb.py checks it). A callback that is
    not faststream's wrapper is the user's own. If the wrapper ever stops holding
    ``error_cb``, the whole wrapper is returned: the user's callback still runs
    (faststream then logs each slow-consumer drop too).
    """
    if callback is None:
        return None
    if not getattr(callback, "__qualname__", "").endswith(FASTSTREAM_ERROR_CB_WRAPPER):
        return callback
    try:
        nonlocals = inspect.getclosurevars(callback).nonlocals
    except TypeError:
        return callback
    if "error_cb" not in nonlocals:
        return callback
    user = nonlocals["error_cb"]
    return user if callable(user) else None


_slicers: WeakKeyDictionary[Any, TimeSlicer] = WeakKeyDictionary()


def install(broker: Any, budget: float | None = DEFAULT_CONSUME_BUDGET) -> TimeSlicer:
    """Add time-slicing and slow-consumer counting to ``broker`` (before it starts).

    Idempotent: a second call only updates the budget. Returns the broker's slicer
    (its ``backlog_limit`` may be changed before messages flow).
    """
    slicer = _slicers.get(broker)
    if slicer is None:
        connection = None
        if _is_nats(broker):
            ref = weakref.ref(broker)  # the slicer must not keep its broker alive

            def connection() -> Any:
                return getattr(ref(), "_connection", None)

        slicer = _slicers[broker] = TimeSlicer(budget, connection=connection)
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
