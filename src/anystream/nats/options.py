"""Connection options, status and statistics of :mod:`anystream.nats`."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import anyio.abc

from .subscription import DEFAULT_PENDING_BYTES_LIMIT, DEFAULT_PENDING_MSGS_LIMIT

__all__ = (
    "DEFAULT_BACKLOG_LIMIT",
    "DEFAULT_BACKLOG_READ_SIZE",
    "DEFAULT_READ_CHECKPOINT_BUDGET",
    "DEFAULT_READ_CHECKPOINT_EVENTS",
    "Connector",
    "ErrorCallback",
    "EventCallback",
    "Options",
    "Statistics",
    "Status",
    "check_pacing",
)

ErrorCallback = Callable[[Exception], "Awaitable[None] | None"]
EventCallback = Callable[[], "Awaitable[None] | None"]
Connector = Callable[[str, int], Awaitable[anyio.abc.ByteStream]]
"""``await connector(host, port)`` opens the byte stream to a server; the default is
:func:`anystream.runtime.net.connect_tcp` (TCP). Tests pass one that returns an in-memory
stream."""

DEFAULT_READ_CHECKPOINT_EVENTS = 256
"""The reader lets other tasks run at least once per this many events..."""
DEFAULT_READ_CHECKPOINT_BUDGET = 0.002
"""...or once it has handled events for this many seconds without suspending."""
DEFAULT_BACKLOG_LIMIT = 512
"""Messages queued in callback/iterator subscriptions from which the reader paces itself."""
DEFAULT_BACKLOG_READ_SIZE = 2048
"""Bytes the reader asks per read while the backlog is at or over the limit."""


def check_pacing(
    *,
    read_checkpoint_events: int,
    read_checkpoint_budget: float,
    backlog_limit: int | None,
    backlog_read_size: int,
) -> None:
    """Raise ``ValueError`` naming the first reader-pacing option out of range."""
    if read_checkpoint_events < 1:
        raise ValueError(f"read_checkpoint_events must be at least 1, got {read_checkpoint_events}")
    if read_checkpoint_budget < 0:
        raise ValueError(
            f"read_checkpoint_budget must be >= 0 seconds, got {read_checkpoint_budget}"
        )
    if backlog_limit is not None and backlog_limit < 1:
        raise ValueError(f"backlog_limit must be at least 1 message or None, got {backlog_limit!r}")
    if backlog_read_size < 1:
        raise ValueError(f"backlog_read_size must be at least 1 byte, got {backlog_read_size!r}")


def pacing_options(
    *,
    read_checkpoint_events: int,
    read_checkpoint_budget: float,
    backlog_limit: int | None,
    backlog_read_size: int,
) -> dict[str, Any]:
    """The reader-pacing options as the client takes them, checked (:func:`check_pacing`)."""
    pacing: dict[str, Any] = {
        "backlog_limit": backlog_limit,
        "backlog_read_size": backlog_read_size,
        "read_checkpoint_events": read_checkpoint_events,
        "read_checkpoint_budget": read_checkpoint_budget,
    }
    check_pacing(**pacing)
    return pacing


class Status(Enum):
    """Where the client is in its life."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DRAINING = "draining"
    CLOSED = "closed"


@dataclass
class Statistics:
    """Counters since the client connected."""

    in_msgs: int = 0
    out_msgs: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    reconnects: int = 0
    errors: int = 0
    """Errors reported to the error callback (server -ERR, slow consumers, ...)."""
    paced_reads: int = 0
    """Reads held to ``backlog_read_size`` because the backlog was at ``backlog_limit``."""


@dataclass
class Options:
    """Everything :func:`connect` accepts besides the server list (see there)."""

    name: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed: str | bytes | None = None
    creds: str | Path | None = None
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    echo: bool = True
    connect_timeout: float = 2.0
    ping_interval: float = 120.0
    max_outstanding_pings: int = 2
    allow_reconnect: bool = True
    max_reconnect_attempts: int = 60
    reconnect_wait: float = 2.0
    reconnect_wait_max: float = 30.0
    reconnect_jitter: float = 0.1
    reconnect_buffer_size: int = 8 * 1024 * 1024
    randomize: bool = True
    flush_timeout: float = 10.0
    close_timeout: float = 5.0
    drain_timeout: float = 30.0
    write_buffer_size: int = 512 * 1024
    pending_msgs_limit: int = DEFAULT_PENDING_MSGS_LIMIT
    pending_bytes_limit: int = DEFAULT_PENDING_BYTES_LIMIT
    inbox_prefix: str = "_INBOX"
    error_cb: ErrorCallback | None = None
    disconnected_cb: EventCallback | None = None
    reconnected_cb: EventCallback | None = None
    closed_cb: EventCallback | None = None
    lame_duck_cb: EventCallback | None = None
    read_checkpoint_events: int = DEFAULT_READ_CHECKPOINT_EVENTS
    read_checkpoint_budget: float = DEFAULT_READ_CHECKPOINT_BUDGET
    backlog_limit: int | None = DEFAULT_BACKLOG_LIMIT
    backlog_read_size: int = DEFAULT_BACKLOG_READ_SIZE
    connector: Connector | None = None
