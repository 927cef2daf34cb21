"""Each per-message patch of ``anystream._adapters.faststream``, upstream vs adapted.

CPU time (``time.process_time()``) per call of the code each patch replaces, measured in
one process with faststream's own code (``uninstall()``) and with anystream's
(``install()``), alternated ``--rounds`` times; the best round of each is shown (the
machine is shared, so the minimum is the least disturbed figure). No server needed.

    python benchmarks/per_message_parts.py [--calls 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio

from anystream._adapters import faststream as adapters

FMT = "%(asctime)s %(levelname)-8s - %(subject)s | %(message_id)-10s - %(message)s"
EXTRA = {"subject": "bench.consume.core", "queue": "", "stream": "", "message_id": "771b95e3-2ab"}


def _access_log_line(folder: str) -> Callable[[], None]:
    """One "Received" line through faststream's access logger (as the middleware logs it)."""
    from faststream._internal.context.repository import ContextRepo
    from faststream._internal.logger.logger_proxy import RealLoggerObject
    from faststream._internal.logger.logging import ExtendedFilter, get_logger

    name = f"faststream.access.bench-{uuid.uuid4().hex}"
    stream = open(os.path.join(folder, name), "w")  # noqa: SIM115 - closed at exit
    logger = get_logger(name=name, log_level=logging.INFO, stream=stream, fmt=FMT)
    logger.addFilter(ExtendedFilter({"subject": "", "message_id": ""}, 10, ContextRepo()))
    proxy = RealLoggerObject(logger)
    return lambda: proxy.log(logging.INFO, "Received", extra=EXTRA)


def _log_context() -> Callable[[], Any]:
    from faststream.nats import NatsBroker

    sub = NatsBroker().subscriber("bench.consume.core")
    return lambda: sub.get_log_context(None)


def _correlation_id() -> Callable[[], Any]:
    from faststream.message.message import StreamMessage

    return lambda: StreamMessage(None, b"{}")


class _Body:
    """What the NATS parser's decoder reads of a message: its body and content type."""

    body = b'{"id": 1, "sku": "sku-1", "qty": 2}'
    content_type = "application/json"


def _decode_body() -> Callable[[], Any]:
    from faststream.nats import parser

    decode = parser.decode_message  # read now: the adapted one once installed
    body = _Body()
    return lambda: decode(body)


async def _handler_call_round(calls: int) -> float:
    """CPU per call of a handler ``async def h(body: dict) -> None`` as faststream wraps it
    (fast_depends' ``apply_types`` with faststream's serializer and context keyword)."""
    from fast_depends import inject
    from fast_depends.pydantic import PydanticSerializer
    from faststream._internal.context.repository import ContextRepo

    async def handler(body: dict) -> None:  # type: ignore[type-arg]
        pass

    wrapper = inject(
        handler, serializer_cls=PydanticSerializer(use_fastdepends_errors=False)
    )
    context = ContextRepo()
    body = {"id": 1, "sku": "sku-1", "qty": 2}
    start = time.process_time()
    for _ in range(calls):
        await wrapper(body, context__=context)
    return (time.process_time() - start) / calls * 1e6


def _cpu_per_call(fn: Callable[[], Any], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6


async def _max_workers_round(calls: int) -> float:
    """CPU per message through ConcurrentMixin's queue (put + worker + consume)."""
    from faststream._internal.endpoint.subscriber.mixins import ConcurrentMixin

    done = anyio.Event()
    count = 0

    class Sub:
        max_workers = 4
        limiter = anyio.Semaphore(4)
        _serve_consume_queue = ConcurrentMixin._serve_consume_queue
        _consume_msg = ConcurrentMixin._consume_msg
        _put_msg = ConcurrentMixin._put_msg

        async def consume(self, msg: Any) -> None:
            nonlocal count
            count += 1
            if count == calls:
                done.set()

    sub = Sub()
    sub.send_stream, sub.receive_stream = anyio.create_memory_object_stream[Any](4)  # type: ignore[attr-defined]
    async with anyio.create_task_group() as tg:
        tg.start_soon(sub._serve_consume_queue)
        start = time.process_time()
        for n in range(calls):
            await sub._put_msg(n)
        await done.wait()
        used = time.process_time() - start
        tg.cancel_scope.cancel()
    return used / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    calls = max(1, min(args.calls, 1_000_000))

    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="anystream-parts-") as folder:
        for _ in range(max(1, args.rounds)):
            for side in ("upstream", "adapted"):
                if side == "upstream":
                    adapters.uninstall()
                else:
                    adapters.install()
                parts: dict[str, Callable[[], Any]] = {
                    "access-log line (Received or Processed)": _access_log_line(folder),
                    "log context of a message (Address)": _log_context(),
                    "StreamMessage with a new correlation id": _correlation_id(),
                    "JSON body decoded (application/json)": _decode_body(),
                }
                for name, fn in parts.items():
                    figure = _cpu_per_call(fn, calls)
                    results.setdefault((name, side), []).append(figure)
                figure = anyio.run(_handler_call_round, calls, backend="asyncio")
                results.setdefault(("handler call (body: dict, validated)", side), []).append(
                    figure
                )
                for backend in ("asyncio", "trio"):
                    figure = anyio.run(_max_workers_round, calls, backend=backend)
                    results.setdefault((f"max_workers=4 queue ({backend})", side), []).append(
                        figure
                    )
        adapters.install()
        logging.shutdown()

    print(f"CPU us per call, best of {args.rounds} rounds of {calls} calls")
    print("| part | faststream 0.7.8 | anystream | change |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(n for n, _ in results):
        before, after = min(results[(name, "upstream")]), min(results[(name, "adapted")])
        print(f"| {name} | {before:.2f} | {after:.2f} | {100 * (after - before) / before:+.0f}% |")


if __name__ == "__main__":
    main()
