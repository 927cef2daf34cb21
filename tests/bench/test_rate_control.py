"""The bench's load generator and publisher offer exactly what their schedule says.

Counts, never timings: the open-loop load generator sends ``rate x duration``
requests whatever the server does, over at most ``connections`` keep-alive
connections; the publisher publishes ``rate x duration`` messages, all delivered.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

import anystream.nats
from anystream.bench import loadgen, null_server

pytestmark = pytest.mark.anyio


class CountingServer:
    """An HTTP/1.1 responder that counts requests per path and connections."""

    def __init__(self) -> None:
        self.paths: Counter[str] = Counter()
        self.connections = 0

    async def handle(self, stream: SocketStream) -> None:
        self.connections += 1
        buffer = b""
        async with stream:
            while True:
                try:
                    buffer += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    self.paths[head.split(b" ")[1].decode()] += 1
                    await stream.send(null_server.RESPONSE)


@asynccontextmanager
async def serving(handler: Callable[[SocketStream], Awaitable[None]]) -> AsyncIterator[int]:
    """``handler`` serving each connection on a loopback port (yielded) for the block."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


async def test_the_open_loop_load_generator_offers_rate_times_duration_requests() -> None:
    server = CountingServer()
    async with serving(server.handle) as port:
        with anyio.fail_after(30):
            result = await loadgen.run(
                "127.0.0.1",
                port,
                rate=400,
                duration=0.5,
                connections=3,
                paths=["/health", "/hello"],
            )
    assert server.paths == {"/health": 100, "/hello": 100}  # paths alternate
    assert 1 <= server.connections <= 3  # keep-alive: connections are reused
    assert result["unsent"] == 0
    for path in ("/health", "/hello"):
        assert result["paths"][path]["completed"] == 100
        assert result["paths"][path]["errors"] == 0
        assert result["paths"][path]["histogram"]["total"] == 100
    assert result["schedule_lag_ms"]["p50"] >= 0
    assert result["cpu_percent"] >= 0


async def test_the_closed_loop_load_generator_sends_only_when_a_connection_is_free() -> None:
    server = CountingServer()
    async with serving(server.handle) as port:
        with anyio.fail_after(30):
            result = await loadgen.run(
                "127.0.0.1", port, rate=None, duration=0.3, connections=2, paths=["/hello"]
            )
    completed = result["paths"]["/hello"]["completed"]
    assert completed > 0
    assert server.paths["/hello"] == completed  # nothing queued, nothing left unanswered
    assert result["unsent"] == 0 and result["schedule_lag_ms"] is None


async def test_requests_nobody_answers_are_counted_as_errors_not_dropped() -> None:
    async def refuse(stream: SocketStream) -> None:
        await stream.aclose()

    async with serving(refuse) as port:
        with anyio.fail_after(30):
            result = await loadgen.run(
                "127.0.0.1", port, rate=100, duration=0.2, connections=2, paths=["/health"]
            )
    health = result["paths"]["/health"]
    assert health["completed"] == 0
    assert health["errors"] + result["unsent"] == 20


async def test_the_null_server_answers_every_pipelined_request() -> None:
    async with serving(null_server.handle) as port:
        with anyio.fail_after(10):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with stream:
                await stream.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
                received = b""
                while received.count(b"hello") < 3:
                    received += await stream.receive()
    assert received == null_server.RESPONSE * 3


async def test_the_publisher_publishes_rate_times_duration_messages_all_delivered(
    nats_url: str, subject: str
) -> None:
    async with anystream.nats.connect(nats_url) as nc:
        sub = await nc.subscribe(subject)
        await nc.flush()
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [
                    sys.executable,
                    "-m",
                    "anystream.bench.publisher",
                    "--url",
                    nats_url,
                    "--subject",
                    subject,
                    "--rate",
                    "1000",
                    "--duration",
                    "0.5",
                ]
            )
            result = json.loads(done.stdout)
            ids = [json.loads((await sub.next_msg(timeout=10)).data)["id"] for _ in range(500)]
    assert result["published"] == result["offered"] == 500
    assert ids == list(range(500))  # in order, none missing


async def test_one_load_generator_process_runs_phase_after_phase_as_the_driver_asks(
    tmp_path: Any,
) -> None:
    server = CountingServer()
    async with serving(server.handle) as port:
        with anyio.fail_after(60):
            async with await anyio.open_process(
                [sys.executable, "-m", "anystream.bench.loadgen", "--serve"]
            ) as proc:
                assert proc.stdin is not None and proc.stdout is not None
                lines = BufferedByteReceiveStream(proc.stdout)
                results = []
                for index, rate in enumerate((100, 300)):
                    result = tmp_path / f"phase{index}.json"
                    command = {
                        "port": port,
                        "rate": rate,
                        "duration": 0.2,
                        "connections": 2,
                        "paths": ["/health"],
                        "result": str(result),
                    }
                    await proc.stdin.send(json.dumps(command).encode() + b"\n")
                    assert await lines.receive_until(b"\n", 100) == b"ready"
                    await proc.stdin.send(f"{time.monotonic()}\n".encode())
                    assert await lines.receive_until(b"\n", 100) == b"done"
                    results.append(json.loads(result.read_text()))
                await proc.stdin.aclose()
                assert await proc.wait() == 0
    assert [r["paths"]["/health"]["completed"] for r in results] == [20, 60]
    assert server.paths["/health"] == 80
