"""Consumption benchmark: what one message costs through faststream's app and anystream's.

``N`` small JSON messages go flat out to one subscriber whose handler does nothing
(``async def h(body: dict) -> None``); one process per variant, the consumer measures
the time and the CPU time (``time.process_time()``) from its first message to its
``N``-th, so start-up and the publisher (another process) are not counted.

Variants (``--impls`` x ``--settings`` x ``--modes``):

- impls: ``faststream`` (``faststream.nats.NatsBroker`` on nats-py, run by faststream's
  ``FastStream`` app on asyncio), ``anystream-asyncio`` and ``anystream-trio``
  (``anystream.nats.NatsBroker`` run by ``anystream.broker_lifespan`` with its defaults);
- settings: ``default`` (every default: INFO "Received"/"Processed" lines on stderr,
  pydantic on ``body: dict``), ``nolog`` (``logger=None``), ``lean`` (``logger=None``,
  ``apply_types=False``), ``workers4`` (``max_workers=4``, core only);
- modes: ``core`` (core NATS: the publisher runs while the consumer runs) and ``js``
  (JetStream pull, default ``PullSub``: the stream is filled first).

Runs are interleaved (variant order shuffled every round), each variant ``--runs``
times; the table shows medians. With ``--check-logs`` (on by default) the per-message
log lines of the faststream and anystream runs with ``default`` settings are compared:
the same text and fields for every message once the timestamp and the message id (a
random uuid per message on core NATS) are masked.

Usage::

    python benchmarks/consume.py [--messages 30000] [--runs 3] [--out results.json]
        [--impls faststream,anystream-asyncio,anystream-trio]
        [--settings default,nolog,lean] [--modes core,js]

Bounded: ``--messages`` per run, every child under ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ("faststream", "anystream-asyncio", "anystream-trio")
SETTINGS = ("default", "nolog", "lean", "workers4")
MODES = ("core", "js")
STREAM = "bench-consume"

# --------------------------------------------------------------------------- the consumer


def _child(args: argparse.Namespace) -> None:
    args.impl = args.impl.partition("@")[0]
    impl, settings, mode, total = args.impl, args.settings, args.mode, args.messages
    clock, cpu = time.perf_counter, time.process_time
    marks: dict[str, float] = {}
    count = 0

    if impl == "faststream":
        from faststream.nats import NatsBroker
    else:
        from anystream.nats import NatsBroker  # type: ignore[assignment]
    from faststream.nats import JStream, PullSub

    broker_kwargs: dict[str, Any] = {}
    sub_kwargs: dict[str, Any] = {}
    if settings in ("nolog", "lean"):
        broker_kwargs["logger"] = None
    if settings == "lean":
        broker_kwargs["apply_types"] = False
    if settings == "workers4":
        sub_kwargs["max_workers"] = 4
    if mode == "js":
        sub_kwargs["stream"] = JStream(STREAM, declare=False)
        sub_kwargs["pull_sub"] = PullSub()

    broker = NatsBroker(args.url, **broker_kwargs)
    done: Any = None

    @broker.subscriber(args.subject, **sub_kwargs)
    async def h(body: dict) -> None:  # type: ignore[type-arg]
        nonlocal count
        count += 1
        if count == 1:
            marks["t0"], marks["c0"] = clock(), cpu()
        elif count == total:
            marks["t1"], marks["c1"] = clock(), cpu()
            done.set()

    def ready() -> None:
        Path(args.ready_file).write_text("ready")

    def report() -> None:
        elapsed = marks["t1"] - marks["t0"]
        used = marks["c1"] - marks["c0"]
        result = {"msgs": total - 1, "elapsed": elapsed, "cpu": used, "received": count}
        Path(args.result_file).write_text(json.dumps(result))

    if impl == "faststream":
        import asyncio

        from faststream import FastStream

        app = FastStream(broker)

        app.after_startup(ready)

        async def main() -> None:
            nonlocal done
            done = asyncio.Event()

            async def stop_when_done() -> None:
                await done.wait()
                app.exit()

            waiter = asyncio.ensure_future(stop_when_done())
            await app.run()
            await waiter

        asyncio.run(main())
    else:
        import anyio

        from anystream import broker_lifespan

        async def amain() -> None:
            nonlocal done
            done = anyio.Event()
            async with broker_lifespan(broker):
                ready()
                await done.wait()

        anyio.run(amain, backend=impl.removeprefix("anystream-"))
    report()


# --------------------------------------------------------------------------- publishing


def _payloads(total: int) -> list[bytes]:
    return [
        json.dumps({"id": i, "sku": f"sku-{i % 97}", "qty": 1 + i % 5}).encode()
        for i in range(total)
    ]


def _publish(url: str, subject: str, total: int, *, js: bool) -> None:
    """Publish ``total`` messages with nats-py, flat out (``js``: fill the stream first)."""
    import asyncio

    from nats.js.api import StreamConfig

    import nats

    async def main() -> None:
        nc = await nats.connect(url)
        try:
            if js:
                jsm = nc.jetstream()
                with contextlib.suppress(Exception):
                    await jsm.delete_stream(STREAM)
                await jsm.add_stream(StreamConfig(name=STREAM, subjects=[subject]))
            for payload in _payloads(total):
                await nc.publish(subject, payload, headers={"content-type": "application/json"})
            await nc.flush(timeout=60)
            if js:
                for _ in range(600):
                    info = await jsm.stream_info(STREAM)
                    if info.state.messages >= total:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await nc.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- one run


def _run_one(
    url: str,
    impl: str,
    settings: str,
    mode: str,
    total: int,
    log_path: Path,
    timeout: float,
    baseline: Path | None = None,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    subject = f"bench.consume.{mode}"
    if mode == "js":
        _publish(url, subject, total, js=True)
    ready_file = log_path.with_suffix(".ready")
    result_file = log_path.with_suffix(".json")
    for stale in (ready_file, result_file):
        stale.unlink(missing_ok=True)
    cmd = [
        sys.executable, __file__, "--child", "--impl", impl, "--settings", settings,
        "--mode", mode, "--url", url, "--subject", subject, "--messages", str(total),
        "--ready-file", str(ready_file), "--result-file", str(result_file),
    ]  # fmt: skip
    if profile_dir is not None:
        # py-spy samples the child (its own CPU time is not the child's process_time)
        raw = profile_dir / f"{log_path.stem}.raw"
        cmd = ["py-spy", "record", "-r", "250", "-f", "raw", "-o", str(raw), "--", *cmd]
    env = dict(os.environ)
    if impl.endswith("@base"):
        if baseline is None:
            raise RuntimeError(f"{impl} needs --baseline (a checkout's src/ folder)")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(baseline), env.get("PYTHONPATH")]))
    # The app's log (faststream writes its access log to stdout) goes to log_path.
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + timeout
            while not ready_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{impl}/{settings}/{mode} did not start; see {log_path}")
                time.sleep(0.02)
            if mode == "core":
                _publish(url, subject, total, js=False)
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        raise RuntimeError(f"{impl}/{settings}/{mode} exited {proc.returncode}; see {log_path}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    result["us_per_msg"] = result["elapsed"] / result["msgs"] * 1e6
    result["cpu_us_per_msg"] = result["cpu"] / result["msgs"] * 1e6
    result["msg_per_s"] = result["msgs"] / result["elapsed"]
    return result


# --------------------------------------------------------------------------- logs

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")
# faststream's access log: "... | <message id, first 10 characters> - Received"
_ID = re.compile(r"\| [0-9a-zA-Z-]{1,10} - (Received|Processed)$")


def per_message_lines(path: Path) -> collections.Counter[str]:
    """The "Received"/"Processed" lines of a log, timestamp and message id masked."""
    lines: collections.Counter[str] = collections.Counter()
    for raw in path.read_text(errors="replace").splitlines():
        if "Received" not in raw and "Processed" not in raw:
            continue
        line = _TIMESTAMP.sub("<time>", raw)
        line = _ID.sub(r"| <id> - \1", line)
        lines[line] += 1
    return lines


def compare_logs(reference: Path, other: Path, total: int) -> dict[str, Any]:
    ref, got = per_message_lines(reference), per_message_lines(other)
    return {
        "same": ref == got,
        "lines": sum(got.values()),
        "expected_lines": 2 * total,
        "reference_lines": sum(ref.values()),
        "distinct": sorted(got)[:4],
        "only_reference": sorted(ref - got)[:3],
        "only_other": sorted(got - ref)[:3],
    }


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--settings", default="default,nolog,lean")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--log-dir", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-check-logs", action="store_true")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="profile every run with py-spy (pip install py-spy; on PATH) into DIR/*.raw "
        "(collapsed stacks: flamegraph.pl or speedscope read them)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="an older anystream's src/ folder: impls named NAME@base run on it "
        "(e.g. anystream-asyncio@base), to compare a change before/after, interleaved",
    )
    # child side
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if not 1 <= args.messages <= 1_000_000:
        parser.error("--messages must be between 1 and 1,000,000")

    from anystream.testing import NatsServer

    impls = [i for i in args.impls.split(",") if i]
    settings = [s for s in args.settings.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    for name, given, known in (
        ("impl", impls, IMPLS),
        ("settings", settings, SETTINGS),
        ("mode", modes, MODES),
    ):
        bad = {g.removesuffix("@base") for g in given} - set(known)
        if bad:
            parser.error(f"unknown {name}: {', '.join(sorted(bad))}")
    variants = [
        (i, s, m)
        for m in modes
        for s in settings
        for i in impls
        if not (s == "workers4" and m == "js")
    ]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="anystream-consume-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    logs: dict[tuple[str, str, str], Path] = {}
    with NatsServer(jetstream=True) as server:
        for round_no in range(args.runs):
            order = variants[:]
            rng.shuffle(order)
            for variant in order:
                impl, setting, mode = variant
                log_path = log_dir / f"{impl}-{setting}-{mode}-{round_no}.log"
                result = _run_one(
                    server.url,
                    impl,
                    setting,
                    mode,
                    args.messages,
                    log_path,
                    args.timeout,
                    args.baseline,
                    args.py_spy,
                )
                results[variant].append(result)
                logs.setdefault(variant, log_path)
                print(
                    f"round {round_no + 1} {impl:18} {setting:8} {mode:4} "
                    f"{result['msg_per_s']:9,.0f} msg/s {result['us_per_msg']:7.1f} us/msg "
                    f"cpu {result['cpu_us_per_msg']:7.1f} us/msg",
                    file=sys.stderr,
                    flush=True,
                )

    table = []
    for variant in variants:
        runs = results[variant]
        table.append(
            {
                "impl": variant[0],
                "settings": variant[1],
                "mode": variant[2],
                "msg_per_s": statistics.median(r["msg_per_s"] for r in runs),
                "us_per_msg": statistics.median(r["us_per_msg"] for r in runs),
                "cpu_us_per_msg": statistics.median(r["cpu_us_per_msg"] for r in runs),
                "runs": runs,
            }
        )
    base = {(row["settings"], row["mode"]): row for row in table if row["impl"] == "faststream"}
    print(f"\n{args.messages} messages per run, {args.runs} interleaved runs, medians")
    print("(on a shared machine wall-clock rates mostly measure the machine: compare CPU)")
    print(
        "| mode | settings | impl | msg/s | us/msg | CPU us/msg | msg/s vs faststream "
        "| CPU vs faststream |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        ref = base.get((row["settings"], row["mode"]))
        ratio = f"{row['msg_per_s'] / ref['msg_per_s']:.2f}x" if ref else "-"
        # faststream's CPU per message over this one's: above 1, fewer CPU seconds per message
        cpu_ratio = f"{ref['cpu_us_per_msg'] / row['cpu_us_per_msg']:.2f}x" if ref else "-"
        print(
            f"| {row['mode']} | {row['settings']} | {row['impl']} | {row['msg_per_s']:,.0f} | "
            f"{row['us_per_msg']:.1f} | {row['cpu_us_per_msg']:.1f} | {ratio} | {cpu_ratio} |"
        )

    checks = {}
    if not args.no_check_logs:
        for (impl, setting, mode), path in logs.items():
            ref = logs.get(("faststream", setting, mode))
            if impl == "faststream" or setting != "default" or ref is None:
                continue
            check = compare_logs(ref, path, args.messages)
            checks[f"{impl}/{setting}/{mode}"] = check
            verdict = "same lines" if check["same"] else "DIFFERENT lines"
            print(
                f"log check {impl} {setting} {mode}: {verdict} "
                f"({check['lines']} per-message lines, faststream {check['reference_lines']}, "
                f"expected {check['expected_lines']})"
            )
            if not check["same"]:
                print(f"  only faststream: {check['only_reference']}")
                print(f"  only {impl}: {check['only_other']}")
    print(f"logs in {log_dir}")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "messages": args.messages,
                    "runs": args.runs,
                    "table": table,
                    "log_checks": checks,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
