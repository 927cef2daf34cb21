"""Opening a network connection: the connector seam, TLS, credentials and the handshake.

The client reads and writes an anyio :class:`~anyio.abc.ByteStream` that a *connector*
opens: ``await connector(host, port)``. The default is
:func:`anystream.runtime.net.connect_tcp` (TCP: anystream's own stream on asyncio, anyio's
elsewhere); tests pass one that returns an in-memory stream to script a server. TLS, when wanted, is
layered on top of what the connector returns, after the server's INFO.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from .._version import __version__
from ..runtime.net import connect_tcp
from . import auth
from .commands import PONG
from .connection import NEED_DATA, Connected, Connection
from .options import Connector
from .protocol import Info, Ping
from .servers import Server

__all__ = ("LANG", "VERSION", "Connector", "connect_options", "handshake", "open_stream")

LANG = "python-anystream"
VERSION = __version__
READ_SIZE = 256 * 1024
"""Bytes asked of the stream per read."""


async def open_stream(connector: Connector | None, server: Server) -> anyio.abc.ByteStream:
    """The connector's stream to ``server`` (TCP when no connector is given)."""
    if connector is None:
        return await connect_tcp(server.host, server.port)
    return await connector(server.host, server.port)


async def handshake(
    stream: anyio.abc.ByteStream,
    connection: Connection,
    server: Server,
    *,
    connect_options: Callable[[dict[str, Any]], dict[str, Any]],
    tls: ssl.SSLContext | None = None,
    tls_hostname: str | None = None,
) -> tuple[anyio.abc.ByteStream, Connected]:
    """Take a new stream from INFO to the PONG that ends the handshake.

    Upgrades to TLS when ``server`` is ``tls://``, when ``tls`` is given or when the
    server requires it; ``connect_options(info)`` gives the CONNECT options. Returns the
    stream to use from then on and the :class:`Connected` event. Raises what
    :meth:`Connection.next_event` raises (``AuthorizationError`` when refused).
    """
    connection.start()
    info: dict[str, Any] | None = None
    while info is None:
        event = connection.next_event()
        if event is NEED_DATA:
            connection.receive_data(await stream.receive(READ_SIZE))
        elif isinstance(event, Info):
            info = event.options
        elif isinstance(event, Ping):
            await stream.send(PONG)
    if server.tls or bool(info.get("tls_required")) or tls is not None:
        stream = await TLSStream.wrap(
            stream,
            hostname=tls_hostname or server.host,
            ssl_context=tls or ssl.create_default_context(),
            standard_compatible=False,
        )
    await stream.send(connection.connect(connect_options(info)))
    while True:
        event = connection.next_event()
        if event is NEED_DATA:
            connection.receive_data(await stream.receive(READ_SIZE))
        elif isinstance(event, Connected):
            return stream, event
        elif isinstance(event, Ping):
            await stream.send(PONG)


def connect_options(
    info: dict[str, Any],
    server: Server,
    *,
    name: str | None,
    echo: bool,
    tls: bool,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    nkey_seed: str | bytes | None = None,
    creds: auth.Credentials | None = None,
    url_auth: Server | None = None,
) -> dict[str, Any]:
    """The CONNECT options: client identity and features, then credentials.

    Credentials, first found wins: a ``.creds`` JWT (signing the INFO ``nonce``), an NKey
    seed, user/password from the server's URL (or another configured URL), ``user`` and
    ``password``, a token from a URL, ``token``.
    """
    options: dict[str, Any] = {
        "verbose": False,
        "pedantic": False,
        "lang": LANG,
        "version": VERSION,
        "protocol": 1,
        "headers": True,
        "no_responders": True,
        "echo": echo,
        "tls_required": tls or server.tls,
    }
    if name:
        options["name"] = name
    nonce = info.get("nonce")
    if creds is not None:
        options["jwt"] = creds.jwt
        if nonce:
            options["sig"] = auth.sign_nonce(creds.seed, nonce)
        return options
    if nkey_seed is not None:
        seed = nkey_seed.encode() if isinstance(nkey_seed, str) else nkey_seed
        options["nkey"] = auth.public_key(seed)
        if nonce:
            options["sig"] = auth.sign_nonce(seed, nonce)
        return options
    if server.user or server.token:
        url_auth = server
    if url_auth is not None and url_auth.user is not None:
        options["user"] = url_auth.user
        options["pass"] = url_auth.password or ""
    elif user is not None:
        options["user"] = user
        options["pass"] = password or ""
    elif url_auth is not None and url_auth.token is not None:
        options["auth_token"] = url_auth.token
    elif token is not None:
        options["auth_token"] = token
    return options
