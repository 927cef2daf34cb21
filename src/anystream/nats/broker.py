"""faststream's ``NatsBroker`` on :mod:`anystream.nats`: no nats-py connection, no asyncio.

:class:`NatsBroker` is faststream's ``NatsBroker`` (same constructor, subscribers,
publishers, routers, ``TestNatsBroker``, FastAPI integration, AsyncAPI) with one method
replaced: ``_connect`` opens an :mod:`anystream.nats` connection and hands faststream a
nats-py-shaped facade of it (:mod:`anystream.nats.compat`). Everything faststream does
with the connection goes through that facade, so the broker runs on asyncio and trio
alike, handlers run in the host's own context (trio APIs work in them on trio).

:func:`adopt` gives a plain ``faststream.nats.NatsBroker`` the same connection: anystream's
app and lifespan call it, so users keep ``from faststream.nats import NatsBroker``.

The connection outlives ``_connect``: the client's task group lives in a background task
started with :func:`anystream.runtime.tasks.spawn` (inside anystream's lifespan, its task
group owns it) until ``broker.stop()`` drains the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import anyio
import faststream.nats
from faststream.nats.broker.broker import NatsBroker as _FaststreamNatsBroker

from .._adapters.faststream import (
    connect_with,
    connection,
    connection_kwargs,
    connects_with,
    install,
)
from ..runtime.tasks import BackgroundTask, spawn
from .client import Client as NativeClient
from .compat.client import Client as CompatClient
from .compat.errors import as_nats_py
from .errors import NoServersError
from .options import (
    DEFAULT_BACKLOG_LIMIT,
    DEFAULT_BACKLOG_READ_SIZE,
    DEFAULT_READ_CHECKPOINT_BUDGET,
    DEFAULT_READ_CHECKPOINT_EVENTS,
    pacing_options,
)
from .session import connect

__all__ = ("NatsBroker", "adopt", "connection_options", "is_native")

# Set in the task that hosts a connection: its client's callbacks (the broker's handlers)
# inherit it, so a drain started from a handler does not wait for its own host.
_in_host: ContextVar[bool] = ContextVar("anystream_nats_host", default=False)

# nats-py options that have no counterpart here; rejected when set to anything but these.
_UNSUPPORTED: Mapping[str, object] = {
    "ws_connection_headers": None,
    "tls_handshake_first": False,
    "signature_cb": None,
    "user_jwt_cb": None,
    "discovered_server_cb": None,
    "reconnect_to_server_handler": None,
}
# nats-py options with no effect here (tuning of nats-py's own buffers and protocol echo).
_IGNORED = frozenset({"verbose", "pedantic", "flusher_queue_size", "skip_subject_validation"})


def connection_options(kwargs: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """``nats.connect()`` keyword arguments as ``(servers, anystream.nats.connect() options)``.

    Raises ``ValueError`` naming an option that anystream's client does not support.
    """
    kw = dict(kwargs)
    servers = kw.pop("servers", "nats://localhost:4222")
    servers = [servers] if isinstance(servers, str) else list(servers)
    for name, neutral in _UNSUPPORTED.items():
        value = kw.pop(name, neutral)
        if value is not neutral and value != neutral:
            raise ValueError(
                f"the NATS option {name}={value!r} is not supported by anystream.nats; "
                "use faststream.nats.NatsBroker on nats-py for it"
            )
    for name in _IGNORED:
        kw.pop(name, None)
    opts: dict[str, Any] = {}

    def take(src: str, dst: str | None = None, convert: Callable[[Any], Any] | None = None) -> None:
        if src in kw:
            value = kw.pop(src)
            if value is not None:
                opts[dst or src] = convert(value) if convert else value

    take("name")
    take("allow_reconnect")
    take("connect_timeout", convert=float)
    take("max_reconnect_attempts")
    take("ping_interval", convert=float)
    take("max_outstanding_pings")
    take("drain_timeout", convert=float)
    take("flush_timeout", convert=float)
    take("pending_size", "reconnect_buffer_size")
    take("no_echo", "echo", lambda v: not v)
    take("dont_randomize", "randomize", lambda v: not v)
    take("inbox_prefix", convert=lambda v: v.decode() if isinstance(v, bytes | bytearray) else v)
    take("tls")
    take("tls_hostname")
    take("error_cb")
    take("disconnected_cb")
    take("reconnected_cb")
    take("closed_cb")
    take("lame_duck_mode_cb", "lame_duck_cb")
    if "reconnect_time_wait" in kw:
        # nats-py waits the same time before every attempt.
        wait = kw.pop("reconnect_time_wait")
        if wait is not None:
            opts["reconnect_wait"] = opts["reconnect_wait_max"] = float(wait)
    for name in ("user", "password", "token"):
        value = kw.pop(name, None)
        if callable(value):
            raise ValueError(f"a callable NATS {name} is not supported by anystream.nats")
        if value is not None:
            opts[name] = value
    creds = kw.pop("user_credentials", None)
    if creds is not None:
        if not isinstance(creds, str | Path):
            raise ValueError(
                "anystream.nats takes user_credentials as a path to a .creds file only"
            )
        opts["creds"] = creds
    seed_file = kw.pop("nkeys_seed", None)
    if seed_file is not None:
        opts["nkey_seed"] = Path(seed_file).read_text().strip()
    seed = kw.pop("nkeys_seed_str", None)
    if seed is not None:
        opts["nkey_seed"] = seed
    if kw:
        raise ValueError(f"unknown NATS connection option(s): {', '.join(sorted(kw))}")
    error_cb = opts.get("error_cb")
    if error_cb is not None:
        opts["error_cb"] = _nats_py_error_cb(error_cb)
    return servers, opts


def _nats_py_error_cb(inner: Callable[[Exception], Any]) -> Callable[[Exception], Any]:
    """An error callback that hands nats-py's exception classes to ``inner``."""

    async def error_cb(exc: Exception) -> None:
        translated = as_nats_py(exc)
        assert isinstance(translated, Exception)
        result = inner(translated)
        if hasattr(result, "__await__"):
            await result

    return error_cb


class _Host:
    """Runs one connection in a background task until it is closed."""

    def __init__(self, servers: list[str], options: dict[str, Any]) -> None:
        self._servers = servers
        self._options = options
        self._ready = anyio.Event()
        self._error: BaseException | None = None
        self._client: CompatClient | None = None
        self._task: BackgroundTask | None = None

    async def open(self) -> CompatClient:
        self._task = spawn(self._run, name=f"anystream.nats connection {self._servers[0]}")
        try:
            await self._ready.wait()
        except BaseException:
            self._task.cancel()
            with anyio.CancelScope(shield=True):
                await self._task.wait()
            raise
        if self._error is not None:
            raise self._error
        assert self._client is not None
        return self._client

    async def _run(self) -> None:
        _in_host.set(True)
        try:
            async with self._connect() as native:
                self._client = CompatClient(
                    native,
                    inbox_prefix=self._options.get("inbox_prefix", "_INBOX"),
                    flush_timeout=self._options.get("flush_timeout"),
                    on_close=self._closed,
                )
                self._ready.set()
                await native.wait_closed()
        except Exception as exc:
            if self._ready.is_set():
                raise
            translated = as_nats_py(exc)
            translated.__cause__ = exc
            self._error = translated
        finally:
            self._ready.set()

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[NativeClient]:
        """Connect; retry the first connection as nats-py does (``allow_reconnect``).

        nats-py retries an unreachable server up to ``max_reconnect_attempts`` times,
        ``reconnect_time_wait`` apart, reporting each failure to ``error_cb``, so an app
        may start before its NATS server. Refused credentials fail at once.
        """
        opts = self._options
        attempts = 0
        limit = opts.get("max_reconnect_attempts", 60)
        async with AsyncExitStack() as stack:
            while True:
                try:
                    native = await stack.enter_async_context(connect(self._servers, **opts))
                except NoServersError as exc:
                    attempts += 1
                    if not opts.get("allow_reconnect", True) or 0 <= limit < attempts:
                        raise
                    error_cb = opts.get("error_cb")
                    if error_cb is not None:
                        await error_cb(exc)
                    await anyio.sleep(opts.get("reconnect_wait", 2.0))
                    continue
                break
            yield native

    async def _closed(self) -> None:
        if self._task is not None and not _in_host.get():
            await self._task.wait()


async def _native_connect(self: _FaststreamNatsBroker) -> CompatClient:
    """``NatsBroker._connect`` on :mod:`anystream.nats` (see the module docstring)."""
    servers, options = connection_options(connection_kwargs(self))
    if isinstance(self, NatsBroker):
        options.update(self.client_options)
    _install_adapters()
    client = await _Host(servers, options).open()
    self.config.connect(client)  # type: ignore[arg-type]
    return client


def _install_adapters() -> None:
    """faststream's asyncio-only internals on this path, fixed on anyio (idempotent)."""
    install()


class NatsBroker(_FaststreamNatsBroker):
    """faststream's ``NatsBroker`` on anystream's own NATS client (asyncio and trio).

    Takes faststream's constructor arguments, plus the client's reader pacing
    (:func:`anystream.nats.connect` documents each; out-of-range values raise
    ``ValueError`` here, before anything connects):

    - ``backlog_limit``: messages queued in the broker's subscriptions, not handled yet,
      from which the reader paces itself (``None``: never);
    - ``backlog_read_size``: bytes per read while paced;
    - ``read_checkpoint_events`` / ``read_checkpoint_budget``: the reader lets other tasks
      run at least every this many events / seconds.
    """

    def __init__(
        self,
        servers: str | Iterable[str] = ("nats://localhost:4222",),
        *,
        backlog_limit: int | None = DEFAULT_BACKLOG_LIMIT,
        backlog_read_size: int = DEFAULT_BACKLOG_READ_SIZE,
        read_checkpoint_events: int = DEFAULT_READ_CHECKPOINT_EVENTS,
        read_checkpoint_budget: float = DEFAULT_READ_CHECKPOINT_BUDGET,
        **kwargs: Any,
    ) -> None:
        pacing = pacing_options(
            backlog_limit=backlog_limit,
            backlog_read_size=backlog_read_size,
            read_checkpoint_events=read_checkpoint_events,
            read_checkpoint_budget=read_checkpoint_budget,
        )
        super().__init__(servers, **kwargs)
        self.client_options: dict[str, Any] = pacing
        """Options for :func:`anystream.nats.connect` that faststream's constructor lacks."""


# faststream's private connect hook, replaced through the adapter (contract-tested).
connect_with(NatsBroker, _native_connect)


# Before any broker of this module exists (TestNatsBroker never calls _connect).
_install_adapters()


def is_native(broker: Any) -> bool:
    """True if ``broker`` is a NATS broker that connects with :mod:`anystream.nats`."""
    if not isinstance(broker, faststream.nats.NatsBroker):
        return False
    return connects_with(broker, _native_connect)


def adopt(broker: Any) -> bool:
    """Make a ``faststream.nats.NatsBroker`` connect with :mod:`anystream.nats`.

    Replaces the instance's ``_connect`` (faststream's ``connect()`` calls it, and
    ``stop()`` drains what it returned). Returns True if ``broker`` is (now) native;
    other brokers, and NATS brokers already connected with nats-py, are left alone.
    """
    if not isinstance(broker, faststream.nats.NatsBroker):
        return False
    if is_native(broker):
        return True
    if connection(broker) is not None:
        return False
    _install_adapters()
    connect_with(broker, _native_connect)
    return True
