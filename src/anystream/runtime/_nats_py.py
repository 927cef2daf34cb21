"""nats-py specifics that must run in the broker's asyncio loop.

Imported by backend-neutral code and called through ``BrokerRuntime.call``, so it
always runs in asyncio context (the host loop, or trio-asyncio's loop on trio).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ("ping",)

#: How often a waiting ping looks at the connection's inbound counters.
_TRAFFIC_POLL = 0.005


def _inbound(connection: Any) -> tuple[int, int]:
    stats = getattr(connection, "stats", None) or {}
    return int(stats.get("in_msgs", 0)), int(stats.get("in_bytes", 0))


async def ping(connection: Any, timeout: float) -> bool:
    """True if the server proved alive within ``timeout`` seconds.

    Alive means one of:

    - it answered our PING with a PONG (the idle case); or
    - it delivered messages on this connection after the ping was sent: under a
      backlog the PONG queues behind everything the server already sent, but a
      connection that keeps receiving is not half-open.

    Unlike ``Client.flush()``, this never cancels the PONG future it registered.
    nats-py resolves PONG futures in order with ``set_result``; a cancelled one
    (``flush()`` cancels its future on timeout, and so does cancelling ``flush``)
    raises ``InvalidStateError`` inside nats-py's read loop, which then stops
    reading for good while ``is_connected`` stays true. A late PONG here simply
    resolves a future nobody waits for any more.
    """
    if not connection.is_connected:
        return False
    pong: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    before = _inbound(connection)
    await connection._send_ping(pong)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.wait({pong}, timeout=min(_TRAFFIC_POLL, remaining))
        if pong.done():
            return not pong.cancelled()
        if not connection.is_connected:
            return False
        if _inbound(connection) != before:
            return True
