"""Health pings that really reach the broker, and that concurrent probes share.

faststream's ``NatsBroker.ping()`` only polls ``is_connected``: it says "healthy"
while a half-open TCP connection hangs. Here a NATS ping is a PING sent on the
broker's connection, answered by its PONG or by messages the server delivers after
it (under a backlog the PONG waits behind them), bounded by the timeout. However
many probes arrive at once, at most one ping per broker is in flight; the others
wait for its answer.
"""

from __future__ import annotations

import logging
from typing import Any
from weakref import WeakKeyDictionary

import anyio

from ._redact import redact
from .nats.compat.client import Client as NativeNatsConnection
from .runtime import _nats_py as nats_py
from .runtime import runtime_for

__all__ = ("SharedPing", "ping_broker")

logger = logging.getLogger("anystream.ping")


async def _round_trip(broker: Any, timeout: float) -> bool:
    """One real round trip to the broker's server; False if it fails or times out."""
    runtime = runtime_for(broker)
    connection = getattr(broker, "_connection", None)
    if isinstance(connection, NativeNatsConnection):
        # NATS on anystream.nats: its flush is a PING answered by the server's PONG.
        try:
            await connection.round_trip(timeout)
        except TimeoutError:
            return False
        return True
    flush = getattr(connection, "flush", None)
    if connection is not None and callable(flush) and hasattr(connection, "_send_ping"):
        # NATS (nats-py): PING, then a PONG or fresh inbound traffic.
        return await runtime.call(nats_py.ping, connection, timeout)
    # Other brokers: their own ping, run where their client lives.
    return bool(await runtime.call(broker.ping, timeout))


class SharedPing:
    """At most one round trip in flight; concurrent callers share its result."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self._waiters: anyio.Event | None = None
        self._result = False
        #: Round trips actually made (for tests and metrics).
        self.round_trips = 0

    async def __call__(self, timeout: float | None) -> bool:
        limit = 10.0 if timeout is None else timeout
        event = self._waiters
        if event is not None:
            with anyio.move_on_after(limit):
                await event.wait()
                return self._result
            return False

        event = self._waiters = anyio.Event()
        result = False
        try:
            # Shielded so that a probe whose client went away still answers the others.
            with anyio.CancelScope(shield=True), anyio.move_on_after(limit):
                self.round_trips += 1
                result = await _round_trip(self.broker, limit)
        except Exception as exc:
            logger.warning("health ping failed: %s", redact(f"{type(exc).__name__}: {exc}"))
            result = False
        finally:
            self._result = result
            self._waiters = None
            event.set()
        return result


_shared: WeakKeyDictionary[Any, SharedPing] = WeakKeyDictionary()


def shared_ping(broker: Any) -> SharedPing:
    """The process-wide :class:`SharedPing` of ``broker``."""
    ping = _shared.get(broker)
    if ping is None:
        ping = _shared[broker] = SharedPing(broker)
    return ping


async def ping_broker(broker: Any, timeout: float | None = None) -> bool:
    """True if ``broker`` answered a round trip within ``timeout`` seconds."""
    return await shared_ping(broker)(timeout)
