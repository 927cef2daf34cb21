"""Key-value and object store benchmark: anystream.nats.js (asyncio, uvloop, trio) against nats-py.

One ``nats-server -js`` on loopback; each client/backend runs in its own child process,
one after the other, on its own buckets, and reports:

- KV put: sequential ``put`` calls per second (each waits for the stream's ack);
- KV get: sequential ``get`` calls per second over the keys just written (the bucket's
  default config, as both clients create it: no direct get, so a ``STREAM.MSG.GET``);
- KV get direct: the same on a bucket created with ``direct=True`` (direct get API);
- object put / get: MB/s for one object of ``--object-mb`` MB in 128 KiB chunks;

and, for each, the client process's CPU time per operation (per MB for objects), which
other processes on the machine disturb less than the rates.

Usage::

    python benchmarks/nats_kv.py [--ops 5000] [--size 128] [--object-mb 16] [--repeat 3]

Every phase runs ``--repeat`` times, the best kept, each bounded in time (``--timeout``
seconds). Figures on a shared machine are noisy: compare the ratios within one run, not
runs with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

VARIANTS = ("nats-py/asyncio", "anystream/asyncio", "anystream/uvloop", "anystream/trio")
PHASES = ("kv_put", "kv_get", "kv_get_direct", "obj_put_mb", "obj_get_mb")


def _record(result: dict[str, float], name: str, count: float, wall: float, cpu: float) -> None:
    """Rate per wall-clock second, and client CPU time per operation (µs) or per MB (ms).

    Over repeated runs the best of each is kept (other processes only ever slow a run).
    """
    rate = count / (time.perf_counter() - wall)
    cpu_per_op = (time.process_time() - cpu) / count * 1e6
    result[name] = max(rate, result.get(name, 0.0))
    result[name + "_cpu"] = min(cpu_per_op, result.get(name + "_cpu", cpu_per_op))


def _keys(n: int) -> list[str]:
    return [f"key.{i % 1000}" for i in range(n)]


# ----------------------------------------------------------------------------- anystream


async def anystream_bench(
    url: str, tag: str, ops: int, size: int, object_mb: int, timeout: float, repeat: int = 1
) -> dict[str, float]:
    import anyio

    from anystream import nats
    from anystream.nats.js import JetStream

    value = b"v" * size
    data = b"o" * (object_mb * 1024 * 1024)
    keys = _keys(ops)
    result: dict[str, float] = {}
    async with nats.connect(url) as nc:
        js = JetStream(nc)
        kv = await js.create_key_value(bucket=f"bench_{tag}")

        async def timed(name: str, fn: Callable[[], Awaitable[None]], count: float) -> None:
            for _ in range(repeat):
                with anyio.fail_after(timeout):
                    wall, cpu = time.perf_counter(), time.process_time()
                    await fn()
                    _record(result, name, count, wall, cpu)

        async def put_all() -> None:
            for key in keys:
                await kv.put(key, value)

        async def get_all(bucket: Any) -> None:
            for key in keys:
                await bucket.get(key)

        await timed("kv_put", put_all, ops)
        await timed("kv_get", lambda: get_all(kv), ops)
        direct = await js.create_key_value(bucket=f"bench_direct_{tag}", direct=True)
        for key in keys[:1000]:
            await direct.put(key, value)
        await timed("kv_get_direct", lambda: get_all(direct), ops)

        obs = await js.create_object_store(f"bench_obj_{tag}")
        got: list[bytes] = []

        async def put_object() -> None:
            await obs.put("blob", data)

        async def get_object() -> None:
            got.append((await obs.get("blob")).data or b"")

        await timed("obj_put_mb", put_object, object_mb)
        await timed("obj_get_mb", get_object, object_mb)
        assert got[0] == data
        for name in (f"bench_{tag}", f"bench_direct_{tag}"):
            await js.delete_key_value(name)
        await js.delete_object_store(f"bench_obj_{tag}")
    return result


# ----------------------------------------------------------------------------- nats-py


async def nats_py_bench(
    url: str, tag: str, ops: int, size: int, object_mb: int, timeout: float, repeat: int = 1
) -> dict[str, float]:
    import nats as nats_py

    value = b"v" * size
    data = b"o" * (object_mb * 1024 * 1024)
    keys = _keys(ops)
    result: dict[str, float] = {}
    nc = await nats_py.connect(url)
    js = nc.jetstream()

    async def timed(name: str, fn: Callable[[], Awaitable[None]], count: float) -> None:
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.wait_for(fn(), timeout)
            _record(result, name, count, wall, cpu)

    kv = await js.create_key_value(bucket=f"bench_{tag}")

    async def put_all() -> None:
        for key in keys:
            await kv.put(key, value)

    async def get_all(bucket: Any) -> None:
        for key in keys:
            await bucket.get(key)

    await timed("kv_put", put_all, ops)
    await timed("kv_get", lambda: get_all(kv), ops)
    direct = await js.create_key_value(bucket=f"bench_direct_{tag}", direct=True)
    for key in keys[:1000]:
        await direct.put(key, value)
    await timed("kv_get_direct", lambda: get_all(direct), ops)

    obs = await js.create_object_store(f"bench_obj_{tag}")

    async def put_object() -> None:
        await obs.put("blob", data)

    got: list[bytes] = []

    async def get_object() -> None:
        got.append((await obs.get("blob")).data or b"")

    await timed("obj_put_mb", put_object, object_mb)
    await timed("obj_get_mb", get_object, object_mb)
    assert got[0] == data
    for name in (f"bench_{tag}", f"bench_direct_{tag}"):
        await js.delete_key_value(name)
    await js.delete_object_store(f"bench_obj_{tag}")
    await nc.close()
    return result


# ----------------------------------------------------------------------------- driver


def worker(
    variant: str, url: str, ops: int, size: int, object_mb: int, timeout: float, repeat: int
) -> None:
    tag = variant.replace("/", "_").replace("-", "_")
    args = (url, tag, ops, size, object_mb, timeout, repeat)
    if variant == "nats-py/asyncio":
        result = asyncio.run(nats_py_bench(*args))
    else:
        import anyio

        backend, options = {
            "anystream/asyncio": ("asyncio", {}),
            "anystream/uvloop": ("asyncio", {"use_uvloop": True}),
            "anystream/trio": ("trio", {}),
        }[variant]
        bench: Callable[[], Awaitable[dict[str, float]]] = lambda: anystream_bench(*args)  # noqa: E731
        result = anyio.run(bench, backend=backend, backend_options=options)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=5000, help="KV puts and gets per phase")
    parser.add_argument("--size", type=int, default=128, help="KV value size (bytes)")
    parser.add_argument("--object-mb", type=int, default=16, help="object size (MB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase (best kept)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(
            args.worker, args.url, args.ops, args.size, args.object_mb, args.timeout, args.repeat
        )
        return

    from anystream.testing import NatsServer

    results: dict[str, dict[str, float]] = {}
    with NatsServer(jetstream=True) as server:
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", variant, "--url", server.url,
                 "--ops", str(args.ops), "--size", str(args.size),
                 "--object-mb", str(args.object_mb), "--timeout", str(args.timeout),
                 "--repeat", str(args.repeat)],
                capture_output=True, text=True, timeout=6 * args.timeout, check=True,
            )  # fmt: skip
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)
    anchor = results["nats-py/asyncio"]
    print(
        f"{args.ops} KV puts/gets of {args.size} bytes; one {args.object_mb} MB object"
        " (ratios: against nats-py/asyncio)\n"
    )
    heads = {
        "kv_put": "put/s",
        "kv_get": "get/s",
        "kv_get_direct": "direct get/s",
        "obj_put_mb": "obj put MB/s",
        "obj_get_mb": "obj get MB/s",
    }
    print(f"{'client/backend':20}" + "".join(f" {heads[p]:>13} {'x':>5}" for p in PHASES))
    for variant, r in results.items():
        cells = "".join(f" {r[p]:13.1f} {r[p] / anchor[p]:5.2f}" for p in PHASES)
        print(f"{variant:20}{cells}")
    print("\nclient CPU time: µs per KV operation, ms per object MB (lower is better)\n")
    print(
        f"{'client/backend':20}"
        + "".join(f" {heads[p].split('/')[0]:>13} {'x':>5}" for p in PHASES)
    )
    for variant, r in results.items():
        cells = "".join(
            f" {r[p + '_cpu'] / (1000 if p.startswith('obj') else 1):13.1f}"
            f" {r[p + '_cpu'] / anchor[p + '_cpu']:5.2f}"
            for p in PHASES
        )
        print(f"{variant:20}{cells}")


if __name__ == "__main__":
    main()
