"""An open-loop HTTP/1.1 load generator, run as its own process.

``python -m anystream.bench.loadgen --host H --port P --rate R --duration D
--connections C --paths /health,/hello`` prints one JSON object (``--serve``:
runs phase after phase as the driver asks, see :mod:`.helper`): per path, the
latency histogram (from each request's *due* time), completed requests, errors;
and its own health: the CPU it used and how late its scheduler handed requests
over (``schedule_lag_ms``). A load generator that is itself late or busy measures
itself, not the server.

Requests are due at a fixed rate whatever the server does; ``C`` keep-alive
connections take due requests in turn, paths alternate. A request still waiting
for a connection when the run ends is counted as late (``unsent``), never dropped
silently.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.memory import MemoryObjectReceiveStream

from .helper import command_loop
from .schedule import due_at
from .stats import Histogram

__all__ = ("main", "run")


class HTTPError(Exception):
    pass


async def _read_response(stream: SocketStream, buffer: bytearray) -> int:
    """Read one HTTP/1.1 response from ``stream``; return its status code."""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive(65536)
        buffer += chunk
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).decode("latin-1")
    del buffer[:head_end]
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(buffer) < length:
            buffer += await stream.receive(65536)
        del buffer[:length]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while b"0\r\n\r\n" not in buffer:
            buffer += await stream.receive(65536)
        del buffer[: buffer.index(b"0\r\n\r\n") + 5]
    return status


async def run(
    host: str,
    port: int,
    *,
    rate: float | None,
    duration: float,
    connections: int,
    paths: list[str],
    start: float | None = None,
) -> dict[str, Any]:
    """Offer ``rate`` requests/s for ``duration`` s; return the figures per path.

    ``rate=None`` is closed loop instead: every connection sends its next request as
    soon as the previous one is answered, to find the server's requests/s ceiling
    (latency then counts from each send).
    """
    closed = rate is None
    total = 0 if rate is None else max(1, int(rate * duration))
    hist = {path: Histogram() for path in paths}
    done = dict.fromkeys(paths, 0)
    errors = dict.fromkeys(paths, 0)
    # Open loop: an unbounded queue of due requests. Closed loop: no queue at all, a
    # request is handed over only when a connection asks for one.
    send, receive = anyio.create_memory_object_stream[tuple[float, str]](0 if closed else math.inf)
    begin = time.monotonic() if start is None else start
    # How late the ticker hands a due request over: the load generator's own delay.
    lag = Histogram()
    # Requests not answered within this long after the run are abandoned (counted).
    grace = max(2.0, duration)

    async def ticker() -> None:
        path_cycle = itertools.cycle(paths)
        async with send:
            if rate is None:  # closed loop: requests are due whenever a connection is free
                end = begin + duration
                while (now := time.monotonic()) < end:
                    await send.send((now, next(path_cycle)))
                return
            for index in range(total):
                due = due_at(index, rate, begin)
                delay = due - time.monotonic()
                if delay > 0:
                    await anyio.sleep(delay)
                lag.record(max(0.0, time.monotonic() - due) * 1e6)
                await send.send((due, next(path_cycle)))

    async def connection(queue: MemoryObjectReceiveStream[tuple[float, str]]) -> None:
        buffer = bytearray()
        stream: SocketStream | None = None
        async with queue:
            async for due, path in queue:
                if closed:
                    due = time.monotonic()  # latency from the send, not from the offer
                try:
                    if stream is None:
                        stream = await anyio.connect_tcp(host, port)
                    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
                    await stream.send(request)
                    status = await _read_response(stream, buffer)
                except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError):
                    errors[path] += 1
                    if stream is not None:
                        await stream.aclose()
                    stream, buffer = None, bytearray()
                    continue
                # A timer may wake a hair early: a reply before its due time is 0 late.
                hist[path].record(max(0.0, time.monotonic() - due) * 1e6)
                if status >= 400:
                    errors[path] += 1
                else:
                    done[path] += 1
        if stream is not None:
            await stream.aclose()

    cpu_before = time.process_time()
    with anyio.move_on_after(max(0.0, begin - time.monotonic()) + duration + grace):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            with receive:
                for _ in range(connections):
                    tg.start_soon(connection, receive.clone())
    elapsed = time.monotonic() - begin
    cpu = time.process_time() - cpu_before
    return {
        "offered_rate": rate,
        "duration": duration,
        "elapsed": round(elapsed, 3),
        "paths": {
            path: {
                "completed": done[path],
                "errors": errors[path],
                "histogram": hist[path].to_dict(),
                "latency_ms": hist[path].summary_ms(),
            }
            for path in paths
        },
        "unsent": 0 if closed else total - sum(done.values()) - sum(errors.values()),
        "requests_per_s": round(sum(done.values()) / duration, 1),
        "cpu_percent": round(100 * cpu / max(1e-9, elapsed), 1),
        "schedule_lag_ms": lag.summary_ms() if lag.total else None,
    }


async def _serve_phase(command: dict[str, Any], start: float) -> dict[str, Any]:
    rate = command["rate"]
    return await run(
        command.get("host", "127.0.0.1"),
        int(command["port"]),
        rate=None if rate == "max" else float(rate),
        duration=float(command["duration"]),
        connections=int(command["connections"]),
        paths=list(command["paths"]),
        start=start,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anystream.bench.loadgen")
    parser.add_argument(
        "--serve", action="store_true", help="take phases from stdin (see anystream.bench.helper)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--rate", help="requests per second, or 'max'")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--paths", default="/health")
    args = parser.parse_args(argv)
    if args.serve:
        anyio.run(command_loop, _serve_phase, backend_options=_fast_loop())
        return 0
    if args.port is None or args.rate is None or args.duration is None:
        parser.error("--port, --rate and --duration are required (or --serve)")
    result = anyio.run(
        lambda: run(
            args.host,
            args.port,
            rate=None if args.rate == "max" else float(args.rate),
            duration=args.duration,
            connections=args.connections,
            paths=args.paths.split(","),
        ),
        backend_options=_fast_loop(),
    )
    json.dump(result, sys.stdout)
    return 0


def _fast_loop() -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


if __name__ == "__main__":
    sys.exit(main())
