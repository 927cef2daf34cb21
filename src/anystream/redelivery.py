"""JetStream redeliveries of messages this process already handled are acked, not re-run.

JetStream is at-least-once: when an ack is lost (the server died, the connection
dropped, ``ack_wait`` ran out while the ack was in flight) the server delivers the
message again, and the handler runs twice for one message. Within one process
anystream knows better: it remembers which stream sequences each consumer has
handled successfully, and when one of them comes back it acks it and skips the
handler. Failed handlers are not remembered, so their messages are redelivered and
handled again as usual.

Scope: one process, bounded memory (the most recent ``capacity`` messages per
broker). A message redelivered to *another* process (a restart, a second worker)
is handled again there: make handlers idempotent, and publish with a
``Nats-Msg-Id`` header so the stream itself drops duplicate publishes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any
from weakref import WeakKeyDictionary

from ._middleware import PerMessage

__all__ = ("DEFAULT_REDELIVERY_MEMORY", "RedeliveryGuard", "guard_for", "install")

logger = logging.getLogger("anystream.redelivery")

#: Messages remembered per broker.
DEFAULT_REDELIVERY_MEMORY = 100_000

_JS_ACK_PREFIX = "$JS.ACK."


def jetstream_key(raw: Any) -> tuple[str, str, int] | None:
    """``(stream, consumer, stream sequence)`` of a JetStream message, else None."""
    reply = getattr(raw, "reply", None)
    if not isinstance(reply, str) or not reply.startswith(_JS_ACK_PREFIX):
        return None
    try:
        metadata = raw.metadata
        return metadata.stream, metadata.consumer, int(metadata.sequence.stream)
    except Exception:  # not parseable: treat as an ordinary message
        return None


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
            logger.info("skipped a redelivery of %s/%s #%d: already handled", *key)
            await msg.ack()
            return None
        result = await call_next(msg)
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
        self._handled: OrderedDict[tuple[str, str, int], None] = OrderedDict()

    def __call__(self, msg: Any, /, *, context: Any) -> _Guarded:
        return _Guarded(msg, context=context, owner=self)

    def __contains__(self, key: tuple[str, str, int]) -> bool:
        return key in self._handled

    def remember(self, key: tuple[str, str, int]) -> None:
        handled = self._handled
        handled[key] = None
        if len(handled) > self.capacity:
            handled.popitem(last=False)


_guards: WeakKeyDictionary[Any, RedeliveryGuard] = WeakKeyDictionary()


def install(
    broker: Any, capacity: int | None = DEFAULT_REDELIVERY_MEMORY
) -> RedeliveryGuard | None:
    """Add a :class:`RedeliveryGuard` to a NATS ``broker`` (before it starts).

    ``capacity=None`` installs nothing. Idempotent. Other brokers are left alone.
    """
    nats = type(broker).__module__.startswith(("faststream.nats", "anystream.nats"))
    if capacity is None or not nats:
        return None
    guard = _guards.get(broker)
    if guard is None:
        guard = _guards[broker] = RedeliveryGuard(capacity)
        broker.add_middleware(guard)
    return guard


def guard_for(broker: Any) -> RedeliveryGuard | None:
    """The guard :func:`install` added to ``broker``, if any."""
    return _guards.get(broker)
