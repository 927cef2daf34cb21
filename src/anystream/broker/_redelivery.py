"""Opt-in: redeliveries of JetStream messages already handled and acked are acked, not re-run.

JetStream is at-least-once: when an ack is lost (the server died, the connection
dropped, ``ack_wait`` ran out while the ack was in flight) the server delivers the
message again, and the handler runs twice for one message. Within one process
anystream can know better: with ``redelivery_memory=N`` it remembers which stream
sequences each consumer handled *and acked*, and when one of them comes back it
acks it and skips the handler.

Off by default, because switching the import from faststream must not change
what happens to messages: with faststream the handler runs again on every
redelivery. Only a handler that finished and acked its message (itself, or by
faststream's ack policy on a normal return) is remembered; a NAK, a reject, a
raised exception or a cancelled handler are not, so their messages are redelivered
and handled again exactly as with faststream.

Scope: one process, bounded memory (the most recent ``capacity`` messages per
broker). A message redelivered to *another* process (a restart, a second worker)
is handled again there: make handlers idempotent, and publish with a
``Nats-Msg-Id`` header so the stream itself drops duplicate publishes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from typing import Any

from faststream import AckPolicy
from faststream.message import AckStatus

from .._adapters.faststream import PerMessage, Shared
from .._adapters.nats_py import acted_on
from ._protocol import BrokerLike
from ._record import find_record, record_for

__all__ = ("DEFAULT_REDELIVERY_MEMORY", "RedeliveryGuard", "guard_for", "install")

logger = logging.getLogger("anystream.redelivery")

#: A sensible ``redelivery_memory`` when you turn the guard on (messages per broker).
#: The guard is off unless asked for: ``redelivery_memory=None`` is the default.
DEFAULT_REDELIVERY_MEMORY = 100_000

_JS_ACK_PREFIX = "$JS.ACK."


#: (stream, consumer, stream sequence, time the message was stored).
Key = tuple[str, str, int, datetime]


def jetstream_key(raw: Any) -> Key | None:
    """What identifies a JetStream message across its deliveries, else None.

    The stream sequence alone does not: a stream deleted and created again (same
    name) numbers its messages from 1 again. With the time the server stored the
    message (in the ack subject of every delivery, unchanged by a redelivery, and
    kept across a server restart, unlike the delivery count) a new message never
    matches one remembered from before.
    """
    reply = getattr(raw, "reply", None)
    if not isinstance(reply, str) or not reply.startswith(_JS_ACK_PREFIX):
        return None
    try:
        metadata = raw.metadata
        stream_sequence = int(metadata.sequence.stream)
        stored: datetime = metadata.timestamp
        return metadata.stream, metadata.consumer, stream_sequence, stored
    except Exception:  # not parseable: treat as an ordinary message
        return None


def will_be_acked(msg: Any, context: Any) -> bool:
    """True if a handler that returned normally leaves ``msg`` acked.

    Either the handler acked it itself (``msg.ack()``), or it decided nothing and
    faststream's acknowledgement middleware, outside ours, acks it next: every ack
    policy but ``AckPolicy.MANUAL`` does on a normal return (the policy is read from
    the subscriber faststream puts in the context as ``handler_``; contract-tested in
    tests/unit/test_redelivery.py). A NAK, a reject, or an
    ack call on the raw nats-py message (which faststream cannot see) is never
    taken for an ack, so the redelivery it asks for runs the handler again.
    """
    committed = getattr(msg, "committed", None)
    if committed is not None:
        return bool(committed is AckStatus.ACKED)
    if acted_on(getattr(msg, "raw_message", None)):
        return False  # acted on through the raw message: ack, NAK or term, unknown
    subscriber = context.get_local("handler_") if context is not None else None
    policy = getattr(subscriber, "ack_policy", None)
    return policy is not None and policy is not AckPolicy.MANUAL


class _Guarded(PerMessage):
    """Per-message half of :class:`RedeliveryGuard`."""

    __slots__ = ()

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        guard: RedeliveryGuard = self.owner
        key = jetstream_key(getattr(msg, "raw_message", None))
        if key is None:
            return await call_next(msg)
        if key in guard:
            guard.skipped += 1
            logger.info("skipped a redelivery of %s/%s #%d: already handled", *key[:3])
            await msg.ack()
            return None
        result = await call_next(msg)
        # Anything raised (an error, NackMessage, RejectMessage, a cancellation)
        # propagates without being remembered: the message comes back as usual.
        if will_be_acked(msg, self.context):
            guard.remember(key)
        return result


class RedeliveryGuard:
    """A faststream broker middleware: skip redeliveries of already-handled messages."""

    def __init__(self, capacity: int = DEFAULT_REDELIVERY_MEMORY) -> None:
        if capacity < 1:
            raise ValueError(f"redelivery memory must be >= 1 message, got {capacity!r}")
        self.capacity = capacity
        #: Redeliveries acked without running the handler.
        self.skipped = 0
        self._handled: OrderedDict[Key, None] = OrderedDict()
        self._shared = Shared(self)

    def __call__(self, msg: Any, /, *, context: Any) -> PerMessage:
        # Only JetStream deliveries (acked through a $JS.ACK. reply) can be redeliveries:
        # every other message, and every publish, goes through one shared no-op object.
        reply = getattr(msg, "reply", None)
        if isinstance(reply, str) and reply.startswith(_JS_ACK_PREFIX):
            return _Guarded(msg, context=context, owner=self)
        return self._shared

    def __contains__(self, key: Key) -> bool:
        return key in self._handled

    def __len__(self) -> int:
        """Messages remembered as handled and acked."""
        return len(self._handled)

    def remember(self, key: Key) -> None:
        handled = self._handled
        handled[key] = None
        if len(handled) > self.capacity:
            handled.popitem(last=False)


def install(
    broker: BrokerLike, capacity: int | None = DEFAULT_REDELIVERY_MEMORY
) -> RedeliveryGuard | None:
    """Add a :class:`RedeliveryGuard` to a NATS ``broker`` (before it starts).

    ``capacity=None`` installs nothing. Idempotent. Other brokers are left alone.
    """
    nats = type(broker).__module__.startswith(("faststream.nats", "anystream.nats"))
    if capacity is None or not nats:
        return None
    record = record_for(broker)
    guard = record.guard
    if guard is None:
        guard = record.guard = RedeliveryGuard(capacity)
        broker.add_middleware(guard)
    return guard


def guard_for(broker: BrokerLike) -> RedeliveryGuard | None:
    """The guard :func:`install` added to ``broker``, if any."""
    record = find_record(broker)
    return None if record is None else record.guard
