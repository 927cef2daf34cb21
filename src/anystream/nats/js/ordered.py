"""Ordered consumers: the bookkeeping that decides when to recreate one (no I/O).

An ordered consumer is an ephemeral push consumer without acks, with flow control and
idle heartbeats, whose messages must arrive with consumer sequences 1, 2, 3... A gap
(a message lost in flight, a heartbeat announcing a later sequence) or heartbeats that
stop coming means messages were missed: the consumer is recreated to start at the
stream sequence after the last one delivered, on a fresh deliver subject.
:class:`OrderedState` holds that bookkeeping; :class:`~.push.PushSubscription` does
the I/O it asks for.
"""

from __future__ import annotations

from nats.js import api

__all__ = ("DEFAULT_HEARTBEAT", "MISSED_HEARTBEATS", "OrderedState", "ordered_config")

DEFAULT_HEARTBEAT = 5.0
"""Idle heartbeat of an ordered consumer when none is given (seconds), as nats-py."""

MISSED_HEARTBEATS = 2
"""Heartbeat intervals without any traffic after which the consumer is recreated."""


def ordered_config(config: api.ConsumerConfig, idle_heartbeat: float | None) -> api.ConsumerConfig:
    """The consumer config of an ordered consumer built on ``config``."""
    return config.evolve(
        durable_name=None,
        deliver_group=None,
        flow_control=True,
        ack_policy=api.AckPolicy.NONE,
        max_deliver=1,
        ack_wait=22 * 3600,
        idle_heartbeat=idle_heartbeat or config.idle_heartbeat or DEFAULT_HEARTBEAT,
        num_replicas=1,
        mem_storage=True,
    )


class OrderedState:
    """Where an ordered consumer is: last consumer sequence seen, last stream sequence.

    ``on_message`` / ``on_heartbeat`` answer "is the stream still in order?"; when they
    say no, :meth:`restart_config` gives the config of the replacement consumer.
    """

    def __init__(self, config: api.ConsumerConfig) -> None:
        self.config = config
        self.consumer_seq = 0
        """Consumer sequence of the last message delivered by the current consumer."""
        self.stream_seq = 0
        """Stream sequence of the last message handed to the application."""
        self.resets = 0
        """How many times the consumer was recreated."""

    def on_message(self, consumer_seq: int, stream_seq: int) -> bool:
        """A message arrived: ``True`` to deliver it, ``False`` if there was a gap."""
        if consumer_seq != self.consumer_seq + 1:
            return False
        self.consumer_seq = consumer_seq
        self.stream_seq = stream_seq
        return True

    def on_heartbeat(self, last_consumer_seq: str | None) -> bool:
        """A heartbeat arrived: ``False`` if it announces messages not seen."""
        if last_consumer_seq is None:
            return True
        try:
            return int(last_consumer_seq) == self.consumer_seq
        except ValueError:
            return True

    def restart_config(self, deliver_subject: str) -> api.ConsumerConfig:
        """Config of the consumer replacing this one; resets the consumer sequence."""
        self.consumer_seq = 0
        self.resets += 1
        if self.stream_seq == 0:
            # Nothing delivered yet: start as the original consumer did.
            self.config = self.config.evolve(name=None, deliver_subject=deliver_subject)
            return self.config
        self.config = self.config.evolve(
            name=None,
            deliver_subject=deliver_subject,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.stream_seq + 1,
            opt_start_time=None,
        )
        return self.config
