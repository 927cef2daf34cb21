"""TCP connections for anystream's own clients, the cheapest stream for each backend."""

from __future__ import annotations

import anyio
import anyio.abc
import sniffio

__all__ = ("connect_tcp",)


async def connect_tcp(host: str, port: int) -> anyio.abc.ByteStream:
    """A TCP byte stream to ``host:port``.

    On asyncio (uvloop too), :class:`anystream.runtime._asyncio_stream.TcpStream`, which
    keeps the socket registered for reading between reads; elsewhere
    :func:`anyio.connect_tcp`.
    """
    if sniffio.current_async_library() == "asyncio":
        from ._asyncio_stream import connect_tcp as asyncio_connect_tcp

        return await asyncio_connect_tcp(host, port)
    return await anyio.connect_tcp(host, port)
