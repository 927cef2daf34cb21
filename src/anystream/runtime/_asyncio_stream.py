"""A TCP byte stream for asyncio hosts that keeps the socket registered for reading.

anyio's asyncio ``SocketStream.receive`` resumes reading before it waits and pauses it
again after (two ``epoll_ctl`` calls per wait). A client that makes many small round
trips (a JetStream pull request, its message, the ack...) waits on almost every read,
so those calls were a tenth of the process in a profile. :class:`TcpStream` leaves
reading on and pauses it only while more than :data:`BUFFER_LIMIT` bytes wait unread,
so the kernel and the server still hold the excess when the reader falls behind (TCP
backpressure). Otherwise it behaves as anyio's stream: ``receive(max_bytes)`` returns at
most ``max_bytes`` and is a checkpoint, ``send`` waits until the kernel took the bytes,
end of stream and errors raise anyio's exceptions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import anyio
import anyio.abc

__all__ = ("BUFFER_LIMIT", "TcpStream", "connect_tcp")

BUFFER_LIMIT = 256 * 1024
"""Unread bytes over which the stream stops reading from the socket until they are taken."""


class _Protocol(asyncio.Protocol):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.offset = 0
        """Bytes of the first chunk already read."""
        self.size = 0
        """Bytes received and not read yet."""
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.readable: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(0)  # send() returns once the kernel has it all

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > self.limit and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self.error = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def _wake_reader(self) -> None:
        waiter = self.readable
        if waiter is not None:
            self.readable = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self.writable
        if waiter is not None:
            self.writable = None
            if not waiter.done():
                waiter.set_result(None)


class TcpStream(anyio.abc.ByteStream):
    """A connected TCP stream (see the module's docstring)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        protocol = self._protocol
        if protocol.chunks:
            await asyncio.sleep(0)  # a checkpoint, as when it has to wait
        while not protocol.chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.error is not None:
                raise anyio.BrokenResourceError from protocol.error
            if protocol.eof or protocol.lost:
                raise anyio.EndOfStream
            waiter = protocol.readable = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if protocol.readable is waiter:
                    protocol.readable = None
        chunks = protocol.chunks
        first = chunks[0]
        start = protocol.offset
        if len(first) - start > max_bytes:
            # Part of the first chunk: the rest stays (no copy of it).
            chunk = first[start : start + max_bytes]
            protocol.offset = start + max_bytes
        else:
            chunks.popleft()
            chunk = first[start:] if start else first
            protocol.offset = 0
            if chunks and len(chunk) + len(chunks[0]) <= max_bytes:
                parts = [chunk]
                size = len(chunk)
                while chunks and size + len(chunks[0]) <= max_bytes:
                    part = chunks.popleft()
                    parts.append(part)
                    size += len(part)
                chunk = b"".join(parts)
        protocol.size -= len(chunk)
        if protocol.paused and protocol.size <= protocol.limit and not protocol.lost:
            protocol.paused = False
            self._transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        await asyncio.sleep(0)  # a checkpoint, as anyio's send
        protocol = self._protocol
        if self._closed:
            raise anyio.ClosedResourceError
        if protocol.lost or self._transport.is_closing():
            raise anyio.BrokenResourceError from protocol.error
        self._transport.write(item)
        while protocol.writable is not None and not protocol.lost:
            await protocol.writable
        if protocol.lost and protocol.error is not None:
            raise anyio.BrokenResourceError from protocol.error

    async def send_eof(self) -> None:
        self._transport.write_eof()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()
            self._protocol._wake_reader()
        await asyncio.sleep(0)


async def connect_tcp(host: str, port: int, *, limit: int = BUFFER_LIMIT) -> TcpStream:
    """Connect to ``host:port`` (``TCP_NODELAY`` on, as asyncio sets it)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(lambda: _Protocol(limit), host, port)
    return TcpStream(transport, protocol)
