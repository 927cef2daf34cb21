"""Helpers for the NATS client tests: waiting, nats-py in a thread, server configs, a TCP proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from anystream.nats.js import JetStream
from anystream.testing import NatsServer, free_port
from tests.helpers import wait_until

__all__ = ("FreezableProxy", "config_server", "fill", "in_nats_py", "wait_until")


async def in_nats_py(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run ``fn(*args)`` on a fresh asyncio loop in a thread (works under trio too)."""
    return await anyio.to_thread.run_sync(lambda: asyncio.run(fn(*args)))


async def fill(js: JetStream, stream: str, count: int, size: int = 1) -> None:
    """A stream ``stream`` on the subject of the same name, with ``count`` messages in it.

    Their payloads are ``b"0"``, ``b"1"``... padded with dots to ``size`` bytes.
    """
    await js.add_stream(name=stream, subjects=[stream])
    for i in range(count):
        await js.publish(stream, str(i).encode().ljust(size, b"."))


def config_server(tmp_path: Path, config: str, **kwargs: object) -> NatsServer:
    """A (not yet started) nats-server using ``config`` as its configuration file."""
    path = tmp_path / f"server-{free_port()}.conf"
    path.write_text(config)
    return NatsServer(extra_args=("-c", str(path)), **kwargs)  # type: ignore[arg-type]


class FreezableProxy:
    """A loopback TCP proxy whose open connections can be frozen (half-open link).

    Frozen connections stay open but no byte passes in either direction; connections
    accepted afterwards work normally.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._frozen: list[anyio.Event] = []
        self._current = anyio.Event()
        self.connections = 0

    def freeze(self) -> None:
        """Stop relaying on every connection open now."""
        self._current.set()
        self._current = anyio.Event()

    async def _relay(
        self,
        source: anyio.abc.ByteStream,
        sink: anyio.abc.ByteStream,
        frozen: anyio.Event,
    ) -> None:
        try:
            while True:
                data = await source.receive()
                if frozen.is_set():
                    await anyio.sleep_forever()
                await sink.send(data)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        frozen = self._current
        upstream = await anyio.connect_tcp("127.0.0.1", self.upstream_port)
        async with client, upstream as up, anyio.create_task_group() as tg:

            async def pipe(a: anyio.abc.ByteStream, b: anyio.abc.ByteStream) -> None:
                await self._relay(a, b, frozen)
                tg.cancel_scope.cancel()

            tg.start_soon(pipe, client, up)
            tg.start_soon(pipe, up, client)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FreezableProxy]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self._handle)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
