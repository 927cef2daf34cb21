"""What a push subscription does with each message on its deliver subject (no I/O).

The server mixes three kinds of messages on a push consumer's deliver subject: the
stream's messages, idle heartbeats (status 100, no reply subject; they may carry
``Nats-Consumer-Stalled``, a subject to publish to when the server is waiting on flow
control) and flow-control requests (status 100 with a reply subject, to be answered once
the application has taken every message before it). :class:`DeliveryState` turns each
into one :class:`Step` the I/O shell (:class:`~.push.PushSubscription`) carries out;
for ordered consumers it also decides when the consumer must be recreated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from nats.js import api

from ..subscription import Msg
from .msg import Metadata, parse_metadata
from .ordered import MISSED_HEARTBEATS, OrderedState

__all__ = ("Action", "DeliveryState", "Step")


class Action(enum.Enum):
    DELIVER = "deliver"
    """Hand the message to the application."""
    REPLY = "reply"
    """Publish an empty message to ``Step.subject`` (flow control, stalled consumer)."""
    RESTART = "restart"
    """Recreate the ordered consumer (``Step.reason`` says why)."""
    SKIP = "skip"
    """Nothing to do (a heartbeat, an unexpected status)."""


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    subject: str | None = None
    reason: str = ""
    metadata: Metadata | None = None


_DELIVER = Step(Action.DELIVER)
_SKIP = Step(Action.SKIP)


class DeliveryState:
    """The state of one push subscription: plain consumer or ordered consumer."""

    def __init__(self, config: api.ConsumerConfig, *, ordered: bool = False) -> None:
        self.ordered = OrderedState(config) if ordered else None
        self.idle_timeout: float | None = None
        """Seconds without any message after which :meth:`on_idle` is due (ordered only)."""
        if ordered and config.idle_heartbeat:
            self.idle_timeout = config.idle_heartbeat * MISSED_HEARTBEATS

    def on_message(self, msg: Msg) -> Step:
        """The step for a message received on the deliver subject."""
        if msg.status is None:
            ordered = self.ordered
            if ordered is None:
                return _DELIVER
            meta = parse_metadata(msg.reply)
            if not ordered.on_message(meta.sequence.consumer, meta.sequence.stream):
                return Step(Action.RESTART, reason="sequence gap")
            return Step(Action.DELIVER, metadata=meta)
        if msg.status != 100:
            return _SKIP
        if msg.reply:
            return Step(Action.REPLY, subject=msg.reply)  # flow-control request
        headers = msg.headers or {}
        if self.ordered is not None and not self.ordered.on_heartbeat(
            headers.get("Nats-Last-Consumer")
        ):
            return Step(Action.RESTART, reason="heartbeat announced missed messages")
        stalled = headers.get("Nats-Consumer-Stalled")
        if stalled:
            return Step(Action.REPLY, subject=stalled)
        return _SKIP

    def on_idle(self) -> Step:
        """No message, not even a heartbeat, for ``idle_timeout`` seconds."""
        if self.ordered is None:
            return _SKIP
        return Step(Action.RESTART, reason="heartbeats stopped")

    def restart_config(self, deliver_subject: str) -> api.ConsumerConfig:
        """The config of the ordered consumer's replacement (see :class:`OrderedState`)."""
        assert self.ordered is not None
        return self.ordered.restart_config(deliver_subject)
