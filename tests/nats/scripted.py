"""A NATS server scripted by the test, in memory, through the client's ``connector`` seam.

::

    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector) as nc:
        conn = await server.accept_handshake()  # the client's connection, CONNECT and PING read
        sub = await nc.subscribe("greet")
        assert await conn.read_line() == b"SUB greet 1"
        await conn.send(b"MSG greet 1 2\\r\\nhi\\r\\n")

Each connection the client opens gets the INFO (and the PONG that completes the
handshake) queued before the connector returns, so ``connect()`` needs no concurrent
script; everything after that is sent and read by the test, byte for byte. Nothing
depends on timing: a step waits for the bytes it needs (bounded by ``fail_after``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anystream import nats
from tests.helpers import wait_until

STEP_TIMEOUT = 5.0

DEFAULT_INFO: dict[str, Any] = {
    "server_id": "SCRIPTED",
    "server_name": "scripted",
    "version": "2.10.0",
    "proto": 1,
    "headers": True,
    "max_payload": 1048576,
}


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of an in-memory byte pipe (what a socket is to the client)."""

    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive
        self._buffer = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint()  # as a socket read does
        if not self._buffer:
            try:
                self._buffer = await self._receive.receive()
            except anyio.ClosedResourceError:
                raise anyio.EndOfStream from None
        chunk, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return chunk

    async def send(self, item: bytes) -> None:
        try:
            await self._send.send(bytes(item))
        except anyio.ClosedResourceError:
            raise anyio.BrokenResourceError from None

    async def send_eof(self) -> None:
        self._send.close()

    async def aclose(self) -> None:
        self._send.close()
        self._receive.close()


def memory_pipe() -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected ends: what one sends, the other receives."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](math.inf)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


@dataclass(eq=False)
class ServerConnection:
    """The server's end of one client connection."""

    host: str
    port: int
    stream: MemoryByteStream
    _buffer: bytes = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def send_info(self, **fields: Any) -> None:
        await self.send(b"INFO " + json.dumps({**DEFAULT_INFO, **fields}).encode() + b"\r\n")

    async def _fill(self) -> None:
        with anyio.fail_after(STEP_TIMEOUT):
            self._buffer += await self.stream.receive()

    async def read_line(self) -> bytes:
        """The next line the client sent, without its CRLF."""
        while b"\r\n" not in self._buffer:
            await self._fill()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    async def read_lines(self, count: int) -> list[bytes]:
        return [await self.read_line() for _ in range(count)]

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def read_pub(self) -> tuple[bytes, bytes]:
        """The next ``PUB subject [reply] size`` line and its payload."""
        line = await self.read_line()
        assert line.startswith(b"PUB "), line
        payload = await self.read_exactly(int(line.rsplit(b" ", 1)[1]) + 2)
        return line, payload[:-2]

    async def read_handshake(self) -> dict[str, Any]:
        """Read ``CONNECT {...}`` and ``PING``; return the CONNECT options."""
        connect = await self.read_line()
        assert connect.startswith(b"CONNECT "), connect
        assert await self.read_line() == b"PING"
        options: dict[str, Any] = json.loads(connect[len(b"CONNECT ") :])
        return options

    async def closed_by_client(self) -> bool:
        """Wait until the client closes the connection (anything it sends is dropped)."""
        with anyio.fail_after(STEP_TIMEOUT):
            while True:
                try:
                    self._buffer += await self.stream.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return True

    async def close(self) -> None:
        """The server goes away: the client reads end of stream."""
        await self.stream.aclose()


@dataclass(eq=False)
class ScriptedServer:
    """Hands the client in-memory connections; the test plays the server on each.

    ``handshake_reply`` is queued after INFO (default ``PONG``: the handshake succeeds).
    After :meth:`hold` the connector waits until :meth:`release` (the client stays
    disconnected); with :attr:`refuse` it raises ``ConnectionRefusedError``.
    """

    handshake_reply: bytes = b"PONG\r\n"
    info: dict[str, Any] = field(default_factory=dict)
    url: str = "nats://scripted:4222"
    gate: anyio.Event | None = None
    refuse: bool = False
    """Refuse new connections (as a server that is down)."""
    opened: int = 0
    refused: int = 0
    _accepted: tuple[MemoryObjectSendStream[ServerConnection], Any] = field(
        default_factory=lambda: anyio.create_memory_object_stream[ServerConnection](math.inf)
    )

    def hold(self) -> None:
        """New connections wait until :meth:`release`."""
        self.gate = anyio.Event()

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()
            self.gate = None

    async def connector(self, host: str, port: int) -> anyio.abc.ByteStream:
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse:
            self.refused += 1
            raise ConnectionRefusedError(f"scripted: {host}:{port} refuses connections")
        self.opened += 1
        client_end, server_end = memory_pipe()
        info = b"INFO " + json.dumps({**DEFAULT_INFO, **self.info}).encode() + b"\r\n"
        await server_end.send(info + self.handshake_reply)
        self._accepted[0].send_nowait(ServerConnection(host, port, server_end))
        return client_end

    async def accept(self) -> ServerConnection:
        """The next connection the client opened."""
        with anyio.fail_after(STEP_TIMEOUT):
            connection: ServerConnection = await self._accepted[1].receive()
        return connection

    async def accept_handshake(self) -> ServerConnection:
        """The next connection the client opened, its handshake (CONNECT, PING) read."""
        connection = await self.accept()
        await connection.read_handshake()
        return connection

    async def reconnected(self, nc: nats.Client, dropped: ServerConnection) -> ServerConnection:
        """The client closes ``dropped`` and reconnects: the new connection, past its handshake."""
        assert await dropped.closed_by_client()
        connection = await self.accept_handshake()
        await wait_until(lambda: nc.is_connected and nc.stats.reconnects == 1)
        return connection


def hmsg(
    subject: str,
    sid: int,
    status_line: str,
    headers: list[tuple[str, str]] | None = None,
    *,
    reply: str | None = None,
    payload: bytes = b"",
) -> bytes:
    """An ``HMSG`` frame as the server sends it (``status_line``: ``"408 Request Timeout"``)."""
    block = f"NATS/1.0 {status_line}\r\n"
    block += "".join(f"{name}: {value}\r\n" for name, value in headers or [])
    block_bytes = (block + "\r\n").encode()
    target = f"{subject} {sid}" if reply is None else f"{subject} {sid} {reply}"
    total = len(block_bytes) + len(payload)
    return b"HMSG %s %d %d\r\n%s%s\r\n" % (
        target.encode(),
        len(block_bytes),
        total,
        block_bytes,
        payload,
    )


async def assert_option_refused(option: str, value: object) -> None:
    """``connect(**{option: value})`` fails with a ``ValueError`` naming it, opening nothing."""
    server = ScriptedServer()
    with pytest.raises(ValueError, match=option):
        async with nats.connect(server.url, connector=server.connector, **{option: value}):  # type: ignore[arg-type]
            pass
    assert server.opened == 0
