"""Client benchmark: anystream.nats (asyncio, uvloop, trio) against nats-py (asyncio).

One nats-server on loopback; each client/backend runs in its own child process, one
after the other, and reports:

- publish rate: messages/s published and flushed;
- consume rate: messages/s received by a subscriber while another connection publishes;
- request/reply round trip p50 and p99 (sequential requests to an echo responder).

Usage::

    python benchmarks/nats_client.py [--messages 200000] [--size 16] [--requests 2000]

Every phase is bounded in count and in time (``--timeout`` seconds per phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

VARIANTS = ("nats-py/asyncio", "anystream/asyncio", "anystream/uvloop", "anystream/trio")


# ----------------------------------------------------------------------------- anystream


async def anystream_bench(
    url: str, n: int, size: int, requests: int, timeout: float
) -> dict[str, Any]:
    import anyio

    from anystream import nats

    payload = b"x" * size
    result: dict[str, Any] = {}
    async with nats.connect(url) as nc, nats.connect(url) as producer:
        with anyio.fail_after(timeout):
            start = time.perf_counter()
            for _ in range(n):
                await nc.publish("bench.pub", payload)
            await nc.flush()
            result["publish_rate"] = n / (time.perf_counter() - start)

        sub = await nc.subscribe("bench.consume", pending_msgs_limit=n + 1)
        await nc.flush()
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as tg:

                async def produce() -> None:
                    for _ in range(n):
                        await producer.publish("bench.consume", payload)
                    await producer.flush()

                start = time.perf_counter()
                tg.start_soon(produce)
                count = 0
                async for _msg in sub:
                    count += 1
                    if count == n:
                        break
                result["consume_rate"] = n / (time.perf_counter() - start)
        await sub.unsubscribe()

        async def echo(msg: nats.Msg) -> None:
            await msg.respond(msg.data)

        await producer.subscribe("bench.echo", cb=echo)
        await producer.flush()
        rtts = []
        with anyio.fail_after(timeout):
            for _ in range(requests):
                t0 = time.perf_counter()
                await nc.request("bench.echo", payload, timeout=5)
                rtts.append(time.perf_counter() - t0)
        result["rtt_p50_us"] = statistics.median(rtts) * 1e6
        result["rtt_p99_us"] = statistics.quantiles(rtts, n=100)[98] * 1e6
    return result


# ----------------------------------------------------------------------------- nats-py


async def nats_py_bench(
    url: str, n: int, size: int, requests: int, timeout: float
) -> dict[str, Any]:
    import nats as nats_py

    payload = b"x" * size
    result: dict[str, Any] = {}
    nc = await nats_py.connect(url, pending_size=64 * 1024 * 1024)
    producer = await nats_py.connect(url, pending_size=64 * 1024 * 1024)

    async def publish_all() -> None:
        for _ in range(n):
            await nc.publish("bench.pub", payload)
        await nc.flush()

    start = time.perf_counter()
    await asyncio.wait_for(publish_all(), timeout)
    result["publish_rate"] = n / (time.perf_counter() - start)

    done = asyncio.Event()
    count = 0

    async def on_msg(msg: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    await nc.subscribe("bench.consume", cb=on_msg, pending_msgs_limit=n + 1)
    await nc.flush()

    async def produce() -> None:
        for _ in range(n):
            await producer.publish("bench.consume", payload)
        await producer.flush()

    start = time.perf_counter()
    task = asyncio.ensure_future(produce())
    await asyncio.wait_for(done.wait(), timeout)
    result["consume_rate"] = n / (time.perf_counter() - start)
    await task

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    await producer.subscribe("bench.echo", cb=echo)
    await producer.flush()
    rtts = []

    async def ask_all() -> None:
        for _ in range(requests):
            t0 = time.perf_counter()
            await nc.request("bench.echo", payload, timeout=5)
            rtts.append(time.perf_counter() - t0)

    await asyncio.wait_for(ask_all(), timeout)
    result["rtt_p50_us"] = statistics.median(rtts) * 1e6
    result["rtt_p99_us"] = statistics.quantiles(rtts, n=100)[98] * 1e6
    await nc.close()
    await producer.close()
    return result


# ----------------------------------------------------------------------------- driver


def worker(variant: str, url: str, n: int, size: int, requests: int, timeout: float) -> None:
    args = (url, n, size, requests, timeout)
    if variant == "nats-py/asyncio":
        result = asyncio.run(nats_py_bench(*args))
    else:
        import anyio

        backend, options = {
            "anystream/asyncio": ("asyncio", {}),
            "anystream/uvloop": ("asyncio", {"use_uvloop": True}),
            "anystream/trio": ("trio", {}),
        }[variant]
        bench: Callable[[], Awaitable[dict[str, Any]]] = lambda: anystream_bench(*args)  # noqa: E731
        result = anyio.run(bench, backend=backend, backend_options=options)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.messages, args.size, args.requests, args.timeout)
        return

    from anystream.testing import NatsServer

    results: dict[str, dict[str, float]] = {}
    with NatsServer() as server:
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", variant, "--url", server.url,
                 "--messages", str(args.messages), "--size", str(args.size),
                 "--requests", str(args.requests), "--timeout", str(args.timeout)],
                capture_output=True, text=True, timeout=4 * args.timeout, check=True,
            )  # fmt: skip
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    anchor = results["nats-py/asyncio"]
    print(f"{args.messages} messages of {args.size} bytes, {args.requests} requests\n")
    header = f"{'client/backend':20} {'publish/s':>11} {'x':>5} {'consume/s':>11} {'x':>5}"
    print(header + f" {'rtt p50 us':>11} {'rtt p99 us':>11}")
    for variant, r in results.items():
        pub_ratio = r["publish_rate"] / anchor["publish_rate"]
        consume_ratio = r["consume_rate"] / anchor["consume_rate"]
        print(
            f"{variant:20} {r['publish_rate']:11.0f} {pub_ratio:5.2f}"
            f" {r['consume_rate']:11.0f} {consume_ratio:5.2f}"
            f" {r['rtt_p50_us']:11.0f} {r['rtt_p99_us']:11.0f}"
        )


if __name__ == "__main__":
    main()
