"""``connect()``: a client's whole life as an async context manager.

:func:`connect` connects (raising if no server can be reached), starts the background
tasks (reader, writer, pinger, flusher, reconnector, callback runners) in a task group that it
owns, yields the :class:`~anystream.nats.Client`, and on exit closes the connection:
publishes already made are flushed (within ``close_timeout``, shielded from cancellation)
and every background task is stopped before the block is left.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from .._groups import unwrap_group
from .client import Client
from .options import (
    DEFAULT_BACKLOG_LIMIT,
    DEFAULT_BACKLOG_READ_SIZE,
    DEFAULT_READ_CHECKPOINT_BUDGET,
    DEFAULT_READ_CHECKPOINT_EVENTS,
    Connector,
    ErrorCallback,
    EventCallback,
    Options,
)
from .subscription import DEFAULT_PENDING_BYTES_LIMIT, DEFAULT_PENDING_MSGS_LIMIT

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ("connect",)


@asynccontextmanager
async def connect(
    servers: str | Sequence[str] = "nats://127.0.0.1:4222",
    *,
    name: str | None = None,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    nkey_seed: str | bytes | None = None,
    creds: str | Path | None = None,
    tls: ssl.SSLContext | None = None,
    tls_hostname: str | None = None,
    echo: bool = True,
    connect_timeout: float = 2.0,
    ping_interval: float = 120.0,
    max_outstanding_pings: int = 2,
    allow_reconnect: bool = True,
    max_reconnect_attempts: int = 60,
    reconnect_wait: float = 2.0,
    reconnect_wait_max: float = 30.0,
    reconnect_jitter: float = 0.1,
    reconnect_buffer_size: int = 8 * 1024 * 1024,
    randomize: bool = True,
    flush_timeout: float = 10.0,
    close_timeout: float = 5.0,
    drain_timeout: float = 30.0,
    write_buffer_size: int = 512 * 1024,
    pending_msgs_limit: int = DEFAULT_PENDING_MSGS_LIMIT,
    pending_bytes_limit: int = DEFAULT_PENDING_BYTES_LIMIT,
    inbox_prefix: str = "_INBOX",
    error_cb: ErrorCallback | None = None,
    disconnected_cb: EventCallback | None = None,
    reconnected_cb: EventCallback | None = None,
    closed_cb: EventCallback | None = None,
    lame_duck_cb: EventCallback | None = None,
    read_checkpoint_events: int = DEFAULT_READ_CHECKPOINT_EVENTS,
    read_checkpoint_budget: float = DEFAULT_READ_CHECKPOINT_BUDGET,
    backlog_limit: int | None = DEFAULT_BACKLOG_LIMIT,
    backlog_read_size: int = DEFAULT_BACKLOG_READ_SIZE,
    connector: Connector | None = None,
) -> AsyncIterator[Client]:
    """Connect to NATS; yield the :class:`Client`; close it when the block is left.

    ``servers`` is one URL or a list (``nats://``, ``tls://``, with ``user:pass@`` or
    ``token@`` credentials if wanted); with ``randomize`` the list is shuffled. Auth can
    also come from ``user``/``password``, ``token``, ``nkey_seed`` (an NKey user seed,
    ``SU...``) or ``creds`` (a ``.creds`` file: user JWT + seed). ``tls`` is the
    ``ssl.SSLContext`` to use for ``tls://`` servers or servers that require TLS.

    Keepalive: a PING every ``ping_interval`` s; more than ``max_outstanding_pings``
    unanswered means the connection is stale and it is replaced. Reconnect: each server
    is retried after ``reconnect_wait`` s doubling per failure up to ``reconnect_wait_max``
    plus up to ``reconnect_jitter`` s of random jitter, at most ``max_reconnect_attempts``
    times in a row (-1: forever), across the given servers and those the cluster announces.

    Callbacks (sync or async): ``error_cb(exc)``, ``disconnected_cb()``,
    ``reconnected_cb()``, ``closed_cb()``, ``lame_duck_cb()``.

    Fairness: the reader takes the server's messages one at a time and lets the other
    tasks of the process run at least every ``read_checkpoint_events`` messages or
    ``read_checkpoint_budget`` seconds, whichever comes first, so a backlog does not
    starve them. Pacing: while ``backlog_limit`` or more messages wait in callback and
    iterator subscriptions (the application is behind), the reader lets other tasks run
    before each read and reads ``backlog_read_size`` bytes only, so the server holds the
    excess (``None``: always read up to 256 KiB). ``connector``: ``await connector(host,
    port)`` returns the byte stream to use instead of a TCP connection (e.g. an in-memory
    stream in tests).

    Raises :class:`NoServersError` when no server can be reached and
    :class:`AuthorizationError` when the server refuses the credentials.
    """
    options = Options(
        name=name,
        user=user,
        password=password,
        token=token,
        nkey_seed=nkey_seed,
        creds=creds,
        tls=tls,
        tls_hostname=tls_hostname,
        echo=echo,
        connect_timeout=connect_timeout,
        ping_interval=ping_interval,
        max_outstanding_pings=max_outstanding_pings,
        allow_reconnect=allow_reconnect,
        max_reconnect_attempts=max_reconnect_attempts,
        reconnect_wait=reconnect_wait,
        reconnect_wait_max=reconnect_wait_max,
        reconnect_jitter=reconnect_jitter,
        reconnect_buffer_size=reconnect_buffer_size,
        randomize=randomize,
        flush_timeout=flush_timeout,
        close_timeout=close_timeout,
        drain_timeout=drain_timeout,
        write_buffer_size=write_buffer_size,
        pending_msgs_limit=pending_msgs_limit,
        pending_bytes_limit=pending_bytes_limit,
        inbox_prefix=inbox_prefix,
        error_cb=error_cb,
        disconnected_cb=disconnected_cb,
        reconnected_cb=reconnected_cb,
        closed_cb=closed_cb,
        lame_duck_cb=lame_duck_cb,
        read_checkpoint_events=read_checkpoint_events,
        read_checkpoint_budget=read_checkpoint_budget,
        backlog_limit=backlog_limit,
        backlog_read_size=backlog_read_size,
        connector=connector,
    )
    urls = [servers] if isinstance(servers, str) else list(servers)
    client = Client(urls, options)
    await client._connect_first()
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(client._background)
            try:
                yield client
            finally:
                await client.close()
    except BaseExceptionGroup as group:
        # The task group wraps the block's own exception: hand it back unwrapped.
        inner = unwrap_group(group)
        if inner is not group:
            raise inner from inner.__cause__
        raise
