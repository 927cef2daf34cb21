"""A NATS publisher at a fixed rate or flat out, run as its own process (nats-py on asyncio).

``python -m anystream.bench.publisher --url U --subject S --rate R|max --duration D``
prints ``{"published": n, "elapsed": s, "cpu_percent": c}`` (or writes it to
``--result FILE``). Messages are the sample app's ``Order`` as JSON. At a fixed
rate exactly ``rate x duration`` messages are due on an open-loop schedule checked
every millisecond (a late publisher catches up, it never skips); "max" publishes as
fast as the client allows for ``duration`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import anyio
import anyio.lowlevel

import nats

from .schedule import due_count

#: A fixed-rate publisher that falls this far behind its schedule gives up (and says so).
GRACE_SECONDS = 5.0

__all__ = ("main",)


def payload(index: int) -> bytes:
    order = {"id": index, "amount": 12.5, "currency": "EUR", "sku": f"sku-{index % 97}"}
    return json.dumps(order).encode()


async def publish(
    url: str, subject: str, rate: float | None, duration: float, handshake: bool
) -> dict[str, float]:
    nc = await nats.connect(url, max_reconnect_attempts=2, connect_timeout=2)
    sent = 0
    total = None if rate is None else round(rate * duration)
    try:
        start = time.monotonic()
        if handshake:  # connected: tell the driver, then wait for the common start
            print("ready", flush=True)
            start = float(await anyio.to_thread.run_sync(sys.stdin.readline))
        delay = start - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)
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
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anystream.bench.publisher")
    parser.add_argument("--url", required=True)
    parser.add_argument("--subject", default="bench.orders")
    parser.add_argument("--rate", required=True, help="messages per second, or 'max'")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument(
        "--handshake",
        action="store_true",
        help="print 'ready' once connected, then read the start time from stdin",
    )
    parser.add_argument("--result", default=None, help="write the JSON here, not to stdout")
    args = parser.parse_args(argv)
    rate = None if args.rate == "max" else float(args.rate)
    result = anyio.run(publish, args.url, args.subject, rate, args.duration, args.handshake)
    if args.result:
        with open(args.result, "w") as f:
            json.dump(result, f)
    else:
        json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
