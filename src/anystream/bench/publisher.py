"""A NATS publisher at a fixed rate or flat out, run as its own process (nats-py on asyncio).

``python -m anystream.bench.publisher --url U --subject S --rate R|max --duration D``
prints ``{"published": n, "offered": n, "elapsed": s, "cpu_percent": c}``
(``--url U --serve``: one connection, phase after phase as the driver asks, see
:mod:`.helper`). Messages are the sample app's ``Order`` as JSON. At a fixed
rate exactly ``rate x duration`` messages are due on an open-loop schedule checked
every millisecond (a late publisher catches up, it never skips); "max" publishes as
fast as the client allows for ``duration`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import anyio
import anyio.lowlevel

import nats

from .helper import command_loop
from .schedule import due_count

#: A fixed-rate publisher that falls this far behind its schedule gives up (and says so).
GRACE_SECONDS = 5.0

__all__ = ("main",)


def payload(index: int) -> bytes:
    order = {"id": index, "amount": 12.5, "currency": "EUR", "sku": f"sku-{index % 97}"}
    return json.dumps(order).encode()


async def publish(nc: Any, subject: str, rate: float | None, duration: float) -> dict[str, Any]:
    """Publish on ``nc`` (connected) for one phase, from now; return the figures."""
    sent = 0
    total = None if rate is None else round(rate * duration)
    cpu_before = time.process_time()
    begin = time.monotonic()
    end = begin + duration
    if rate is None or total is None:
        while time.monotonic() < end:
            for _ in range(256):
                await nc.publish(subject, payload(sent))
                sent += 1
            await anyio.lowlevel.checkpoint()
    else:
        give_up = end + GRACE_SECONDS
        while sent < total and (now := time.monotonic()) < give_up:
            due = due_count(now, rate, begin, limit=total)
            while sent < due:
                await nc.publish(subject, payload(sent))
                sent += 1
            await anyio.sleep(0.001)
    await nc.flush(timeout=10)
    elapsed = time.monotonic() - begin
    return {
        "published": sent,
        "offered": sent if total is None else total,
        "elapsed": round(elapsed, 3),
        "cpu_percent": round(100 * (time.process_time() - cpu_before) / elapsed, 1),
    }


async def _connect(url: str) -> Any:
    return await nats.connect(url, max_reconnect_attempts=2, connect_timeout=2)


async def serve(url: str) -> None:
    """One connection for the whole run; phases as the driver asks (see :mod:`.helper`)."""
    nc = await _connect(url)

    async def phase(command: dict[str, Any], start: float) -> dict[str, Any]:
        delay = start - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)
        rate = command["rate"]
        return await publish(
            nc,
            command.get("subject", "bench.orders"),
            None if rate == "max" else float(rate),
            float(command["duration"]),
        )

    try:
        await command_loop(phase)
    finally:
        await nc.close()


async def publish_once(
    url: str, subject: str, rate: float | None, duration: float
) -> dict[str, Any]:
    nc = await _connect(url)
    try:
        return await publish(nc, subject, rate, duration)
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anystream.bench.publisher")
    parser.add_argument("--url", required=True)
    parser.add_argument(
        "--serve", action="store_true", help="take phases from stdin (see anystream.bench.helper)"
    )
    parser.add_argument("--subject", default="bench.orders")
    parser.add_argument("--rate", help="messages per second, or 'max'")
    parser.add_argument("--duration", type=float)
    args = parser.parse_args(argv)
    if args.serve:
        anyio.run(serve, args.url)
        return 0
    if args.rate is None or args.duration is None:
        parser.error("--rate and --duration are required (or --serve)")
    rate = None if args.rate == "max" else float(args.rate)
    result = anyio.run(publish_once, args.url, args.subject, rate, args.duration)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
