"""The TCP stream the NATS client reads and writes (``anystream.runtime.net.connect_tcp``).

On asyncio it is anystream's own stream, which keeps the socket registered for reading
between reads (anyio's registers and unregisters it around every wait); on trio it is
anyio's. Both behave the same for the client: bytes in order and at most ``max_bytes`` per
read, the end of the stream after the last byte, a reader that falls behind holds the
sender back (nothing piles up in memory), and a cancelled read loses nothing. A real
loopback TCP listener is the other end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from anystream.runtime.net import connect_tcp

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[anyio.abc.ByteStream, anyio.abc.ByteStream]]:
    """``(client, server)``: a stream from ``connect_tcp`` and the listener's end of it."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener:
        inner = listener.listeners[0]
        assert isinstance(inner, anyio.abc.SocketListener)
        client = await connect_tcp("127.0.0.1", inner.extra(SocketAttribute.local_port))
        server = await inner.accept()
        async with client, server:
            yield client, server


async def receive_exactly(stream: anyio.abc.ByteStream, size: int, max_bytes: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive(max_bytes)
        assert len(chunk) <= max_bytes
        data += chunk
    return bytes(data)


async def test_bytes_arrive_in_order_and_at_most_max_bytes_per_read() -> None:
    payload = bytes(range(256)) * 2000
    async with connected() as (client, server):
        await server.send(payload)
        assert await receive_exactly(client, len(payload), 4096) == payload
        await client.send(b"PING\r\n")
        assert await server.receive() == b"PING\r\n"


async def test_the_stream_ends_after_the_last_byte_of_a_closed_peer() -> None:
    async with connected() as (client, server):
        await server.send(b"bye")
        await server.aclose()
        assert await client.receive() == b"bye"
        with pytest.raises(anyio.EndOfStream):
            await client.receive()


async def test_a_reader_that_falls_behind_holds_the_sender_back() -> None:
    chunk, total = b"x" * (1 << 20), 64
    sent = [0]
    async with connected() as (client, server):

        async def sender() -> None:
            for _ in range(total):
                await server.send(chunk)
                sent[0] += 1

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sender)
                while True:  # until the sender stops making progress
                    before = sent[0]
                    await anyio.sleep(0.2)
                    if sent[0] == before:
                        break
                # Kernel buffers and the stream's own hold a few MiB, not the 64 sent.
                assert sent[0] < total // 2
                received = await receive_exactly(client, total * len(chunk), 256 * 1024)
        assert sent[0] == total and received == chunk * total


async def test_a_cancelled_read_loses_nothing() -> None:
    async with connected() as (client, server):
        with anyio.move_on_after(0.05):
            await client.receive()
        await server.send(b"after")
        assert await client.receive() == b"after"


async def test_a_closed_stream_refuses_reads_and_writes() -> None:
    async with connected() as (client, _):
        await client.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await client.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"x")
