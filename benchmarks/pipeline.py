"""faststream's per-message pipeline alone: CPU per message of ``subscriber.consume(msg)``.

``consume.py`` measures the whole app (NATS client, event loop, pipeline); this measures
only what faststream does with a message once the client has handed it over, so a change
to the adapters shows up without the network's noise. One process per variant: a broker
is started against a real nats-server (``anystream.testing.NatsServer``), then ``N``
messages (the same JSON as ``consume.py``) are passed to its subscriber's ``consume``
directly, ``--rounds`` times; the median round is kept, and the median over ``--runs``
interleaved runs is shown.

Variants: ``faststream`` (faststream's ``NatsBroker`` on nats-py, asyncio) and
``anystream-asyncio`` / ``anystream-trio`` (``anystream.nats.NatsBroker`` under
``broker_lifespan``), each optionally on another anystream source tree:
``--source NAME=PATH`` runs ``anystream-asyncio@NAME`` on ``PATH`` (a checkout's ``src/``),
to compare commits, interleaved::

    python benchmarks/pipeline.py --settings default,nolog
    python benchmarks/pipeline.py --impls anystream-asyncio,anystream-asyncio@base \\
        --source base=/tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _child(args: argparse.Namespace) -> None:
    impl = args.impl.partition("@")[0]
    if impl == "faststream":
        from faststream.nats import NatsBroker
    else:
        from anystream.nats import NatsBroker  # type: ignore[assignment]

    kwargs: dict[str, Any] = {}
    if args.settings in ("nolog", "lean"):
        kwargs["logger"] = None
    if args.settings == "lean":
        kwargs["apply_types"] = False
    broker = NatsBroker(args.url, **kwargs)
    count = 0

    @broker.subscriber("pipeline.bench")
    async def handler(body: dict) -> None:  # type: ignore[type-arg]
        nonlocal count
        count += 1

    subscriber = broker.subscribers[0]
    payloads = [
        json.dumps({"id": i, "sku": f"sku-{i % 97}", "qty": 1 + i % 5}).encode()
        for i in range(args.messages)
    ]

    async def rounds(connection: Any, msg_class: Any) -> list[float]:
        results = []
        for _ in range(args.rounds):
            msgs = [
                msg_class(
                    _client=connection,
                    subject="pipeline.bench",
                    reply="",
                    data=payload,
                    headers={"content-type": "application/json"},
                    _sid=1,
                )
                for payload in payloads
            ]
            start = time.process_time()
            for msg in msgs:
                await subscriber.consume(msg)
            results.append((time.process_time() - start) / len(msgs) * 1e6)
        return results

    if impl == "faststream":
        import asyncio

        from nats.aio.msg import Msg

        async def main() -> list[float]:
            await broker.start()
            try:
                return await rounds(broker.connection, Msg)
            finally:
                await broker.stop()

        results = asyncio.run(main())
    else:
        import anyio

        from anystream import broker_lifespan
        from anystream.nats.compat.client import Msg as CompatMsg

        async def amain() -> list[float]:
            async with broker_lifespan(broker):
                return await rounds(broker.connection, CompatMsg)

        results = anyio.run(amain, backend=impl.removeprefix("anystream-"))
    if count != args.messages * args.rounds:
        raise RuntimeError(f"handled {count} messages, expected {args.messages * args.rounds}")
    Path(args.result_file).write_text(json.dumps(statistics.median(results)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--impls", default="faststream,anystream-asyncio,anystream-trio")
    parser.add_argument("--settings", default="default,nolog")
    parser.add_argument("--source", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.settings = args.settings.split(",")[0]
        _child(args)
        return
    if not 1 <= args.messages <= 1_000_000:
        parser.error("--messages must be between 1 and 1,000,000")
    sources = dict(s.split("=", 1) for s in args.source)
    impls = [i for i in args.impls.split(",") if i]
    for impl in impls:
        name, _, source = impl.partition("@")
        if name not in ("faststream", "anystream-asyncio", "anystream-trio"):
            parser.error(f"unknown impl {name}")
        if source and source not in sources:
            parser.error(f"{impl} needs --source {source}=PATH")
    variants = [(i, s) for s in args.settings.split(",") if s for i in impls]

    from anystream.testing import NatsServer

    rng = random.Random(args.seed)
    results: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
    result_file = Path(f"/tmp/anystream-pipeline-{os.getpid()}.json")
    with NatsServer() as server:
        for run in range(args.runs):
            order = variants[:]
            rng.shuffle(order)
            for impl, setting in order:
                env = dict(os.environ)
                source = impl.partition("@")[2]
                if source:
                    env["PYTHONPATH"] = os.pathsep.join(
                        filter(None, [sources[source], env.get("PYTHONPATH")])
                    )
                cmd = [
                    sys.executable, __file__, "--child", "--impl", impl, "--settings", setting,
                    "--url", server.url, "--messages", str(args.messages),
                    "--rounds", str(args.rounds), "--result-file", str(result_file),
                ]  # fmt: skip
                subprocess.run(
                    cmd, cwd=ROOT, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL
                )
                value = json.loads(result_file.read_text())
                results[(impl, setting)].append(value)
                line = f"run {run + 1} {impl:28} {setting:8} {value:7.1f} CPU us/msg"
                print(line, file=sys.stderr)
    result_file.unlink(missing_ok=True)
    print(f"\n{args.messages} messages x {args.rounds} rounds per run, {args.runs} runs, medians")
    print("| settings | impl | CPU us/msg | vs faststream |")
    print("|---|---|---|---|")
    for impl, setting in variants:
        value = statistics.median(results[(impl, setting)])
        ref = results.get(("faststream", setting))
        ratio = f"{statistics.median(ref) / value:.2f}x" if ref else "-"
        print(f"| {setting} | {impl} | {value:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
