"""Health pings that really reach the broker, and that concurrent probes share.

faststream's ``NatsBroker.ping()`` only polls ``is_connected``: it says "healthy"
while a half-open TCP connection hangs. Here a NATS ping is a PING sent on the
broker's :mod:`anystream.nats` connection, answered by its PONG or by messages the
server delivers after it (under a backlog the PONG waits behind them), bounded by the
timeout. Other brokers, and test brokers, answer with their own ``ping()``. However
many probes arrive at once, at most one ping per broker is in flight; the others
wait for its answer, each within its own timeout.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from .._redact import redact
from ..broker._protocol import BrokerLike
from ..broker._record import record_for, runtime_for
from ..nats.compat.client import Client as NativeNatsConnection

__all__ = ("SharedPing", "ping_broker")

logger = logging.getLogger("anystream.ping")


async def _round_trip(broker: BrokerLike, timeout: float) -> bool:
    """One real round trip to the broker's server; False if it fails or times out."""
    connection: Any = getattr(broker, "_connection", None)
    # type(), not isinstance(): a test broker's mock made with spec=Client passes
    # isinstance, and its own ping() is the one to ask, as faststream does.
    if issubclass(type(connection), NativeNatsConnection):
        # NATS on anystream.nats: a PING, answered by the server's PONG or by messages
        # received after it (under a backlog the PONG waits behind them).
        return bool(await connection.alive(timeout))
    # Other brokers (and test brokers): their own ping, run where their client lives.
    return bool(await runtime_for(broker).call(broker.ping, timeout))


class _RoundTrip:
    """One round trip in flight, shared by the probes that arrive while it runs."""

    __slots__ = ("deadline", "done", "result", "timed_out")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = anyio.Event()
        self.result = False
        #: It ended at its deadline without an answer (not a failure it saw).
        self.timed_out = False


class SharedPing:
    """At most one round trip in flight; concurrent callers share its answer.

    Each caller keeps its own timeout. A "healthy" answer is shared by everyone
    waiting. A round trip that gave up at *its* deadline (set by a probe with a
    shorter timeout) is not a verdict for a probe that still has time: that probe
    goes on with a round trip of its own for the time it has left.
    """

    def __init__(self, broker: BrokerLike) -> None:
        self.broker = broker
        self._in_flight: _RoundTrip | None = None
        #: Round trips actually made (for tests and metrics).
        self.round_trips = 0

    async def __call__(self, timeout: float | None) -> bool:
        limit = 10.0 if timeout is None else timeout
        deadline = anyio.current_time() + limit
        while True:
            trip = self._in_flight
            if trip is None:
                return await self._round_trip(deadline)
            with anyio.CancelScope(deadline=deadline):
                await trip.done.wait()
            if not trip.done.is_set():
                return False  # our own timeout
            if trip.result or not trip.timed_out or trip.deadline >= deadline:
                return trip.result
            # It timed out before we would have: ask again with the time we have left.

    async def _round_trip(self, deadline: float) -> bool:
        trip = self._in_flight = _RoundTrip(deadline)
        try:
            # Shielded so that a probe whose client went away still answers the others.
            with anyio.CancelScope(shield=True, deadline=deadline):
                self.round_trips += 1
                trip.result = await _round_trip(
                    self.broker, max(0.0, deadline - anyio.current_time())
                )
        except Exception as exc:
            logger.warning("health ping failed: %s", redact(f"{type(exc).__name__}: {exc}"))
            trip.result = False
        finally:
            trip.timed_out = not trip.result and anyio.current_time() >= deadline
            if self._in_flight is trip:
                self._in_flight = None
            trip.done.set()
        return trip.result


def shared_ping(broker: BrokerLike) -> SharedPing:
    """The process-wide :class:`SharedPing` of ``broker`` (kept in its record)."""
    record = record_for(broker)
    ping = record.ping
    if ping is None:
        ping = record.ping = SharedPing(broker)
    return ping


async def ping_broker(broker: BrokerLike, timeout: float | None = None) -> bool:
    """True if ``broker`` answered a round trip within ``timeout`` seconds."""
    return await shared_ping(broker)(timeout)
