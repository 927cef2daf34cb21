"""Bounded soak: RSS of a served anystream app over many requests and messages.

Serves ``tests/reliability/apps/faulty.py`` with a real server process against a
real nats-server, sends N HTTP requests (``/health`` and a 404, alternating) and
publishes N core-NATS messages, and prints the worker's RSS (from /proc) after a
warm-up and after every tenth of the run. Stops at N or at ``--max-seconds``.

    python scripts/soak.py --server hypercorn-trio --count 100000
    python scripts/soak.py --server uvicorn --count 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from anystream.testing import NatsServer  # noqa: E402
from tests.e2e.servers import COMBOS, ServerProcess  # noqa: E402
from tests.reliability.support import APP, Records, rss_kib, worker_pid  # noqa: E402


def publish_batch(url: str, start: int, count: int) -> None:
    async def main() -> None:
        nc = await nats.connect(url)
        for i in range(start, start + count):
            await nc.publish("rel.core", f"m{i}".encode())
            if i % 500 == 0:
                await nc.flush()  # stay below the consumer's pace
        await nc.flush()
        await nc.close()

    anyio.run(main, backend="asyncio")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=[c.id for c in COMBOS], default="hypercorn-trio")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    combo = next(c for c in COMBOS if c.id == args.server)
    work = Path(tempfile.mkdtemp(prefix="anystream-soak-"))
    records = Records(work / "handled.txt")

    with NatsServer(jetstream=True) as nats_server:
        server = ServerProcess(combo, APP, nats_url=nats_server.url, log_path=work / "server.log")
        server.env["RECORD_FILE"] = str(records.path)
        server.start()
        try:
            server.wait_ready()
            assert server.proc is not None
            pid = worker_pid(server.proc.pid)
            deadline = time.monotonic() + args.max_seconds
            http = httpx.Client(base_url=server.base_url, timeout=10.0)

            def run(start: int, count: int) -> int:
                pub = threading.Thread(target=publish_batch, args=(nats_server.url, start, count))
                pub.start()
                done = 0
                for i in range(count):
                    if time.monotonic() > deadline:
                        break
                    http.get("/health" if i % 2 else "/nowhere")
                    done += 1
                pub.join()
                return done

            run(0, args.warmup)
            before = rss_kib(pid)
            print(f"{combo.id}: RSS after warm-up ({args.warmup}+{args.warmup}): {before} KiB")
            step = max(args.count // 10, 1)
            sent = 0
            began = time.monotonic()
            while sent < args.count and time.monotonic() < deadline:
                sent += run(args.warmup + sent, min(step, args.count - sent))
                print(f"  {sent:>7} requests, {sent:>7} messages: RSS {rss_kib(pid)} KiB")
            time.sleep(2.0)  # let the consumer finish
            handled = len(records.counts("core"))
            after = rss_kib(pid)
            elapsed = time.monotonic() - began
            print(
                f"{combo.id}: requests={sent} messages_published={sent} "
                f"messages_handled={handled - args.warmup} in {elapsed:.0f} s; "
                f"RSS {before} -> {after} KiB ({after - before:+d} KiB)"
            )
        finally:
            server.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
