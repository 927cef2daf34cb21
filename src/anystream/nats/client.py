"""The NATS connection on anyio: the same code runs on asyncio and trio.

:func:`connect` is an async context manager. It connects (raising if no server can be
reached), starts the background tasks (reader, writer, pinger, reconnector, callback
runners) in a task group that it owns, yields the :class:`Client`, and on exit closes the
connection: publishes already made are flushed (within ``close_timeout``, shielded from
cancellation) and every background task is stopped before the block is left.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import random
import secrets
import ssl
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from .._version import __version__
from . import auth
from .errors import (
    AuthorizationError,
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    MalformedFrameError,
    NatsError,
    NatsTimeoutError,
    NoRespondersError,
    NoServersError,
    OutboundBufferFullError,
    ServerError,
    StaleConnectionError,
)
from .options import ErrorCallback, EventCallback, Options, Statistics, Status
from .protocol import (
    DEFAULT_MAX_PAYLOAD,
    PING,
    PONG,
    Err,
    Event,
    HeadersInput,
    Info,
    Ok,
    Parser,
    Ping,
    Pong,
    connect_command,
    pub_command,
    publishes_only,
    sub_command,
    unsub_command,
    validate_queue,
    validate_subject,
)
from .protocol import Msg as MsgEvent
from .servers import Server, ServerPool
from .subscription import (
    DEFAULT_PENDING_BYTES_LIMIT,
    DEFAULT_PENDING_MSGS_LIMIT,
    Msg,
    MsgCallback,
    Subscription,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ("Client", "connect")

logger = logging.getLogger("anystream.nats")

LANG = "python-anystream"
VERSION = __version__
_READ_SIZE = 256 * 1024

# Set inside the client's background tasks, so close() called from a callback does not
# wait for its own task to finish.
_in_background: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "anystream_nats_background", default=False
)

_NETWORK_ERRORS = (
    OSError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    NatsError,
)


_Call = tuple[Callable[..., Any], tuple[Any, ...]]


class _PongWaiter:
    __slots__ = ("event", "ok")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.ok = False


class _Reply:
    __slots__ = ("event", "msg")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.msg: Msg | None = None


@dataclass(eq=False)
class _Conn:
    """One live connection to one server."""

    stream: anyio.abc.ByteStream
    server: Server
    parser: Parser
    info: dict[str, Any]
    leftover: list[Event] = field(default_factory=list)
    pongs: deque[_PongWaiter | None] = field(default_factory=deque)
    outstanding_pings: int = 0
    scope: anyio.CancelScope | None = None
    error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        if self.scope is not None:
            self.scope.cancel()


class Client:
    """A NATS connection. Get one from :func:`connect`; do not construct it directly."""

    def __init__(self, servers: Sequence[str], options: Options) -> None:
        self._opts = options
        self._pool = ServerPool(servers, randomize=options.randomize)
        self._url_auth = next(
            (s for s in self._pool.servers if s.user is not None or s.token is not None), None
        )
        self._creds: auth.Credentials | None = None
        if options.creds is not None:
            self._creds = auth.load_creds(options.creds)
        self._status = Status.CONNECTING
        self._conn: _Conn | None = None
        self._server: Server | None = None
        self._server_info: dict[str, Any] = {}
        self._max_payload = DEFAULT_MAX_PAYLOAD
        self._subs: dict[int, Subscription] = {}
        self._next_sid = 0
        self._outbox = bytearray()
        self._outbox_waiter: anyio.Event | None = None
        self._written = anyio.Event()
        self._writing = False
        self._connected = anyio.Event()
        self._closing = False
        self._closed_event = anyio.Event()
        self._resp_prefix = f"{options.inbox_prefix}.{secrets.token_hex(11)}"
        self._resp_sub: Subscription | None = None
        self._requests: dict[str, _Reply] = {}
        self._next_token = 0
        self._bg_tg: anyio.abc.TaskGroup | None = None
        self._bg_scope = anyio.CancelScope()
        self._bg_done = anyio.Event()
        self._dispatcher_done = anyio.Event()
        send, receive = anyio.create_memory_object_stream[_Call](256)
        self._events_send = send
        self._events_receive = receive
        self.stats = Statistics()
        """Messages and bytes in and out, reconnects, errors."""

    # ================================================================= properties

    @property
    def status(self) -> Status:
        return self._status

    @property
    def is_connected(self) -> bool:
        return self._status is Status.CONNECTED

    @property
    def is_reconnecting(self) -> bool:
        return self._status is Status.RECONNECTING

    @property
    def is_closed(self) -> bool:
        return self._status is Status.CLOSED

    @property
    def connected_url(self) -> str | None:
        """URL of the server connected to now (``None`` while disconnected)."""
        return self._server.url if self._server is not None and self.is_connected else None

    @property
    def servers(self) -> list[str]:
        """URLs of every server known: configured and discovered from the cluster."""
        return [s.url for s in self._pool.servers]

    @property
    def server_info(self) -> dict[str, Any]:
        """The last INFO received from the server."""
        return dict(self._server_info)

    @property
    def subscriptions(self) -> int:
        """Number of active subscriptions (the shared request inbox counts as one)."""
        return len(self._subs)

    @property
    def max_payload(self) -> int:
        return self._max_payload

    @property
    def pending_bytes(self) -> int:
        """Bytes of commands waiting to be written (e.g. publishes held while disconnected)."""
        return len(self._outbox)

    def new_inbox(self) -> str:
        """A unique subject for replies: ``<inbox_prefix>.<random>``."""
        return f"{self._opts.inbox_prefix}.{secrets.token_hex(11)}"

    # ================================================================= publish

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        *,
        reply: str | None = None,
        headers: HeadersInput | None = None,
    ) -> None:
        """Publish ``payload`` to ``subject``, with an optional ``reply`` subject and headers.

        The message is queued and written in the background; when the write buffer is
        over ``write_buffer_size`` this waits for the writer (backpressure). While
        reconnecting, messages are held in a buffer of ``reconnect_buffer_size`` bytes and
        sent after reconnecting; once it is full this raises
        :class:`OutboundBufferFullError`. Raises :class:`BadSubjectError`,
        :class:`MaxPayloadError` and :class:`ConnectionClosedError` for bad input or a
        closed connection.
        """
        if self._closing:
            raise ConnectionClosedError("cannot publish: the connection is closed")
        command = pub_command(
            subject, payload, reply=reply, headers=headers, max_payload=self._max_payload
        )
        outbox = self._outbox
        if self._conn is None and len(outbox) + len(command) > self._opts.reconnect_buffer_size:
            raise OutboundBufferFullError(
                f"cannot publish to {subject!r} while reconnecting: the reconnect buffer of "
                f"{self._opts.reconnect_buffer_size} bytes is full"
            )
        stats = self.stats
        stats.out_msgs += 1
        stats.out_bytes += len(payload)
        outbox += command
        waiter = self._outbox_waiter
        if waiter is not None:
            self._outbox_waiter = None
            waiter.set()
        if len(outbox) > self._opts.write_buffer_size:
            await self._wait_write_room()

    async def _wait_write_room(self) -> None:
        while len(self._outbox) > self._opts.write_buffer_size and self._status in (
            Status.CONNECTED,
            Status.DRAINING,
        ):
            await self._written.wait()

    def _write(self, command: bytes) -> None:
        """Queue a control command; dropped while disconnected (state is restored)."""
        if self._conn is not None:
            self._outbox += command
            waiter = self._outbox_waiter
            if waiter is not None:
                self._outbox_waiter = None
                waiter.set()

    # ================================================================= subscribe

    async def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        *,
        cb: MsgCallback | None = None,
        max_msgs: int | None = None,
        pending_msgs_limit: int | None = None,
        pending_bytes_limit: int | None = None,
    ) -> Subscription:
        """Subscribe to ``subject`` (wildcards allowed), in queue group ``queue`` if given.

        Iterate the returned :class:`Subscription`, or pass ``cb``: an async function
        called with each message, one at a time, in a background task. ``max_msgs``
        unsubscribes automatically after that many messages. The pending limits bound
        the messages and bytes waiting to be processed (slow consumer beyond them).
        """
        self._check_open()
        if self._status is Status.DRAINING:
            raise ConnectionDrainingError("cannot subscribe: the connection is draining")
        validate_subject(subject, wildcards=True)
        if queue is not None:
            validate_queue(queue)
        if max_msgs is not None and max_msgs <= 0:
            raise ValueError(f"max_msgs must be positive, got {max_msgs}")
        sub = self._add_subscription(
            subject,
            queue,
            cb=cb,
            max_msgs=max_msgs,
            pending_msgs_limit=pending_msgs_limit or self._opts.pending_msgs_limit,
            pending_bytes_limit=pending_bytes_limit or self._opts.pending_bytes_limit,
        )
        if cb is not None:
            assert self._bg_tg is not None
            self._bg_tg.start_soon(sub._run_callback, name=f"nats callback {subject}")
        return sub

    def _add_subscription(self, subject: str, queue: str | None, **kwargs: Any) -> Subscription:
        self._next_sid += 1
        sub = Subscription(self, self._next_sid, subject, queue, **kwargs)
        self._subs[sub.sid] = sub
        self._write(sub_command(subject, sub.sid, queue))
        if sub.max_msgs is not None:
            self._write(unsub_command(sub.sid, sub.max_msgs))
        return sub

    async def _unsubscribe(self, sub: Subscription, limit: int | None) -> None:
        if sub.closed:
            return
        if limit is not None and limit > sub.received:
            sub._max = limit
            if not self._closing:
                self._write(unsub_command(sub.sid, limit))
            return
        self._subs.pop(sub.sid, None)
        if not self._closing:
            self._write(unsub_command(sub.sid))
        sub._close()

    async def _drain_subscription(self, sub: Subscription, timeout: float | None) -> None:
        if sub.closed:
            await sub._wait_processed()
            return
        with anyio.move_on_after(timeout or self._opts.drain_timeout) as scope:
            self._write(unsub_command(sub.sid))
            if self.is_connected:
                await self.flush()
            self._subs.pop(sub.sid, None)
            sub._close()
            await sub._wait_processed()
        if scope.cancelled_caught:
            raise DrainTimeoutError(f"draining the subscription to {sub.subject!r} timed out")

    # ================================================================= request / reply

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        *,
        timeout: float = 1.0,
        headers: HeadersInput | None = None,
    ) -> Msg:
        """Publish a request and wait up to ``timeout`` seconds for the first reply.

        Replies come to one wildcard inbox subscription shared by every request. Raises
        :class:`NoRespondersError` at once when nobody listens on ``subject`` and
        :class:`NatsTimeoutError` when no reply comes in time.
        """
        self._check_open()
        if self._resp_sub is None:
            self._resp_sub = self._add_subscription(
                f"{self._resp_prefix}.*", None, handler=self._on_response
            )
        self._next_token += 1
        token = f"{self._next_token:x}"
        reply = _Reply()
        self._requests[token] = reply
        try:
            await self.publish(
                subject, payload, reply=f"{self._resp_prefix}.{token}", headers=headers
            )
            with anyio.move_on_after(timeout):
                await reply.event.wait()
        finally:
            self._requests.pop(token, None)
        msg = reply.msg
        if msg is None:
            if reply.event.is_set():
                raise ConnectionClosedError(f"connection closed during the request to {subject!r}")
            raise NatsTimeoutError(f"no reply to the request on {subject!r} within {timeout} s")
        if msg.status == 503:
            raise NoRespondersError(subject)
        return msg

    def _on_response(self, msg: Msg) -> None:
        token = msg.subject[len(self._resp_prefix) + 1 :]
        reply = self._requests.pop(token, None)
        if reply is not None:
            reply.msg = msg
            reply.event.set()

    # ================================================================= flush / drain / close

    async def flush(self, timeout: float | None = None) -> float:
        """Send everything queued and wait for the server's PONG; return the round trip (s).

        Waits for a reconnect if disconnected. Raises :class:`NatsTimeoutError` after
        ``timeout`` (default ``flush_timeout``) and :class:`ConnectionClosedError` when closed.
        """
        self._check_open()
        limit = self._opts.flush_timeout if timeout is None else timeout
        with anyio.move_on_after(limit):
            while True:
                conn = await self._wait_connected()
                waiter = _PongWaiter()
                started = anyio.current_time()
                conn.pongs.append(waiter)
                self._write(PING)
                await waiter.event.wait()
                if waiter.ok:
                    return anyio.current_time() - started
                self._check_open()
        raise NatsTimeoutError(f"flush got no PONG within {limit} s")

    async def _wait_connected(self) -> _Conn:
        while True:
            self._check_open()
            if self._conn is not None and self._status in (Status.CONNECTED, Status.DRAINING):
                return self._conn
            await self._connected.wait()

    async def drain(self, timeout: float | None = None) -> None:
        """Stop receiving, process what is in flight, flush publishes, then close.

        Every subscription is unsubscribed; messages the server already sent are still
        delivered and processed (callbacks return, iterators are read) before closing.
        Raises :class:`DrainTimeoutError` when that takes longer than ``timeout`` (default
        ``drain_timeout``); the connection is closed in any case.
        """
        if self._closing:
            return
        self._status = Status.DRAINING if self._conn is not None else self._status
        limit = self._opts.drain_timeout if timeout is None else timeout
        try:
            with anyio.move_on_after(limit) as scope:
                subs = [s for s in self._subs.values() if s is not self._resp_sub]
                for sub in subs:
                    self._write(unsub_command(sub.sid))
                await self.flush()
                for sub in subs:
                    self._subs.pop(sub.sid, None)
                    sub._close()
                for sub in subs:
                    await sub._wait_processed()
                await self.flush()
        finally:
            await self.close()
        if scope.cancelled_caught:
            raise DrainTimeoutError(f"drain did not finish within {limit} s")

    async def close(self) -> None:
        """Close the connection: flush what is queued (within ``close_timeout``), stop every
        background task, end every subscription and fail pending requests.

        Shielded from cancellation and idempotent.
        """
        in_background = _in_background.get()
        with anyio.CancelScope(shield=True):
            if not self._closing:
                self._closing = True
                with anyio.move_on_after(self._opts.close_timeout):
                    await self._wait_outbox_empty()
                self._mark_closed()
                self._emit_nowait(self._opts.closed_cb)
            self._events_send.close()
            if not in_background:
                with anyio.move_on_after(self._opts.close_timeout):
                    await self._dispatcher_done.wait()
            self._bg_scope.cancel()
            if not in_background:
                await self._bg_done.wait()

    async def _wait_outbox_empty(self) -> None:
        while (self._outbox or self._writing) and self._status in (
            Status.CONNECTED,
            Status.DRAINING,
        ):
            await self._written.wait()

    def _mark_closed(self) -> None:
        self._closing = True
        self._status = Status.CLOSED
        for sub in list(self._subs.values()):
            sub._close()
        self._subs.clear()
        for reply in self._requests.values():
            reply.event.set()
        self._requests.clear()
        if self._conn is not None:
            self._fail_pongs(self._conn)
        self._connected.set()
        self._written.set()
        self._closed_event.set()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by ``close``, ``drain`` or giving up)."""
        await self._closed_event.wait()

    def _check_open(self) -> None:
        if self._closing:
            raise ConnectionClosedError("the connection is closed")

    # ================================================================= background

    async def _connect_first(self) -> None:
        """Connect to the first reachable server of the list."""
        errors: list[str] = []
        auth_error: AuthorizationError | None = None
        conn = None
        for server in self._pool.rotation(None):
            try:
                conn = await self._open(server)
                break
            except AuthorizationError as exc:
                auth_error = exc
                errors.append(f"{server.url}: {exc}")
            except (OSError, TimeoutError, *_NETWORK_ERRORS) as exc:
                errors.append(f"{server.url}: {exc!r}")
        if conn is None:
            self._mark_closed()
            self._events_send.close()
            self._events_receive.close()
            if auth_error is not None:
                raise auth_error
            raise NoServersError("could not connect to any server: " + "; ".join(errors))
        self._set_connected(conn)

    async def _background(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        _in_background.set(True)
        try:
            with self._bg_scope:
                async with anyio.create_task_group() as tg:
                    self._bg_tg = tg
                    tg.start_soon(self._dispatch_events, name="nats events")
                    task_status.started()
                    await self._supervise()
                    # Gave up reconnecting: let the queued callbacks run, then stop.
                    self._events_send.close()
                    with anyio.move_on_after(self._opts.close_timeout):
                        await self._dispatcher_done.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._bg_done.set()

    async def _supervise(self) -> None:
        conn = self._conn
        while conn is not None:
            error = await self._serve(conn)
            if self._closing:
                return
            self._set_disconnected(conn, error)
            if not self._opts.allow_reconnect:
                self._report_error(ConnectionClosedError(f"disconnected: {error!r}"))
                self._mark_closed()
                self._emit_nowait(self._opts.closed_cb)
                return
            try:
                conn = await self._reconnect(conn.server)
            except NoServersError as exc:
                self._report_error(exc)
                self._mark_closed()
                self._emit_nowait(self._opts.closed_cb)
                return
            self.stats.reconnects += 1
            self._set_connected(conn)
            self._emit_nowait(self._opts.reconnected_cb)

    async def _serve(self, conn: _Conn) -> BaseException | None:
        async def guard(task: Callable[[_Conn], Awaitable[None]]) -> None:
            try:
                await task(conn)
            except _NETWORK_ERRORS as exc:
                conn.fail(exc)

        try:
            async with anyio.create_task_group() as tg:
                conn.scope = tg.cancel_scope
                tg.start_soon(guard, self._reader, name="nats reader")
                tg.start_soon(guard, self._writer, name="nats writer")
                tg.start_soon(guard, self._pinger, name="nats pinger")
        finally:
            conn.scope = None
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(conn.stream)
        return conn.error

    def _set_connected(self, conn: _Conn) -> None:
        # Restore every subscription ahead of what was queued while disconnected. This
        # runs without awaiting, so no subscribe() can slip between the two.
        restore = bytearray()
        for sub in list(self._subs.values()):
            restore += sub_command(sub.subject, sub.sid, sub.queue)
            if sub.max_msgs is not None:
                remaining = sub.max_msgs - sub.received
                if remaining <= 0:
                    self._subs.pop(sub.sid, None)
                    sub._close()
                    continue
                restore += unsub_command(sub.sid, remaining)
        self._outbox[0:0] = restore
        self._conn = conn
        self._server = conn.server
        self._status = Status.CONNECTED
        self._connected.set()

    def _set_disconnected(self, conn: _Conn, error: BaseException | None) -> None:
        logger.info("disconnected from %s: %r", conn.server.url, error)
        self._conn = None
        self._status = Status.RECONNECTING
        self._outbox = publishes_only(self._outbox)
        self._connected = anyio.Event()
        self._fail_pongs(conn)
        self._written.set()
        self._written = anyio.Event()
        conn.server.last_attempt = anyio.current_time()
        self._emit_nowait(self._opts.disconnected_cb)

    @staticmethod
    def _fail_pongs(conn: _Conn) -> None:
        while conn.pongs:
            waiter = conn.pongs.popleft()
            if waiter is not None:
                waiter.event.set()

    async def _reconnect(self, previous: Server) -> _Conn:
        opts = self._opts
        rounds = 0
        while True:
            rotation = self._pool.rotation(previous)
            if not rotation:
                raise NoServersError("gave up reconnecting: no server left to try")
            for server in rotation:
                backoff = server.backoff(opts.reconnect_wait, opts.reconnect_wait_max)
                if server.attempts == 0 and server is not previous and rounds == 0:
                    backoff = 0.0
                delay = server.last_attempt + backoff - anyio.current_time()
                if delay > 0:
                    await anyio.sleep(delay + random.uniform(0, opts.reconnect_jitter))
                server.last_attempt = anyio.current_time()
                try:
                    conn = await self._open(server)
                except (OSError, TimeoutError, *_NETWORK_ERRORS) as exc:
                    server.attempts += 1
                    logger.debug("reconnect to %s failed: %r", server.url, exc)
                    if isinstance(exc, AuthorizationError):
                        self._report_error(exc)
                    if 0 <= opts.max_reconnect_attempts < server.attempts:
                        self._pool.remove(server)
                    continue
                server.attempts = 0
                return conn
            rounds += 1

    async def _open(self, server: Server) -> _Conn:
        """Connect, upgrade to TLS if needed and authenticate."""
        opts = self._opts
        with anyio.fail_after(opts.connect_timeout):
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(server.host, server.port)
            try:
                parser = Parser()
                events: list[Event] = []
                while not events:
                    events = parser.feed(await stream.receive(_READ_SIZE))
                first, leftover = events[0], events[1:]
                if not isinstance(first, Info):
                    raise MalformedFrameError(f"expected INFO from the server, got {first!r}")
                info = first.options
                use_tls = server.tls or bool(info.get("tls_required")) or opts.tls is not None
                if use_tls:
                    context = opts.tls or ssl.create_default_context()
                    stream = await TLSStream.wrap(
                        stream,
                        hostname=opts.tls_hostname or server.host,
                        ssl_context=context,
                        standard_compatible=False,
                    )
                parser.max_payload = int(info.get("max_payload", DEFAULT_MAX_PAYLOAD))
                await stream.send(connect_command(self._connect_options(server, info)) + PING)
                leftover = await self._await_handshake_pong(stream, parser, leftover)
            except BaseException:
                await anyio.aclose_forcefully(stream)
                raise
        conn = _Conn(stream, server, parser, info, leftover)
        self._apply_info(conn, info)
        return conn

    async def _await_handshake_pong(
        self, stream: anyio.abc.ByteStream, parser: Parser, events: list[Event]
    ) -> list[Event]:
        while True:
            for index, event in enumerate(events):
                if isinstance(event, Pong):
                    return events[index + 1 :]
                if isinstance(event, Err):
                    if event.is_auth_error:
                        raise AuthorizationError(
                            f"the server refused the credentials: {event.message}"
                        )
                    raise ServerError(event.message)
                if isinstance(event, Ping):
                    await stream.send(PONG)
            events = parser.feed(await stream.receive(_READ_SIZE))

    def _connect_options(self, server: Server, info: dict[str, Any]) -> dict[str, Any]:
        opts = self._opts
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": LANG,
            "version": VERSION,
            "protocol": 1,
            "headers": True,
            "no_responders": True,
            "echo": opts.echo,
            "tls_required": isinstance(self._opts.tls, ssl.SSLContext) or server.tls,
        }
        if opts.name:
            options["name"] = opts.name
        nonce = info.get("nonce")
        if self._creds is not None:
            options["jwt"] = self._creds.jwt
            if nonce:
                options["sig"] = auth.sign_nonce(self._creds.seed, nonce)
            return options
        if opts.nkey_seed is not None:
            seed = opts.nkey_seed.encode() if isinstance(opts.nkey_seed, str) else opts.nkey_seed
            options["nkey"] = auth.public_key(seed)
            if nonce:
                options["sig"] = auth.sign_nonce(seed, nonce)
            return options
        url_auth = server if (server.user or server.token) else self._url_auth
        if url_auth is not None and url_auth.user is not None:
            options["user"] = url_auth.user
            options["pass"] = url_auth.password or ""
        elif opts.user is not None:
            options["user"] = opts.user
            options["pass"] = opts.password or ""
        elif url_auth is not None and url_auth.token is not None:
            options["auth_token"] = url_auth.token
        elif opts.token is not None:
            options["auth_token"] = opts.token
        return options

    def _apply_info(self, conn: _Conn, info: dict[str, Any]) -> None:
        conn.info = info
        self._server_info = info
        self._max_payload = int(info.get("max_payload", self._max_payload))
        conn.parser.max_payload = self._max_payload
        urls = info.get("connect_urls")
        if isinstance(urls, list):
            self._pool.add_discovered((str(u) for u in urls), tls=conn.server.tls)

    # ----------------------------------------------------------------- connection tasks

    async def _reader(self, conn: _Conn) -> None:
        stream = conn.stream
        feed = conn.parser.feed
        handle = self._handle
        for event in conn.leftover:
            handle(conn, event)
        conn.leftover = []
        while True:
            data = await stream.receive(_READ_SIZE)
            for event in feed(data):
                handle(conn, event)

    def _handle(self, conn: _Conn, event: Event) -> None:
        if type(event) is MsgEvent:
            stats = self.stats
            stats.in_msgs += 1
            stats.in_bytes += len(event.payload)
            sub = self._subs.get(event.sid)
            if sub is None:
                return
            sub.received += 1
            msg = Msg(
                self,
                event.subject,
                event.reply,
                event.payload,
                event.sid,
                event.headers,
                event.status,
                event.description,
            )
            if sub._handler is not None:
                sub._handler(msg)
            else:
                sub._deliver(msg)
            if sub._max is not None and sub.received >= sub._max:
                self._subs.pop(sub.sid, None)
                sub._close()
        elif type(event) is Ping:
            self._write(PONG)
        elif type(event) is Pong:
            conn.outstanding_pings = 0
            if conn.pongs:
                waiter = conn.pongs.popleft()
                if waiter is not None:
                    waiter.ok = True
                    waiter.event.set()
        elif isinstance(event, Info):
            self._apply_info(conn, event.options)
            if event.options.get("ldm"):
                self._enter_lame_duck(conn)
        elif isinstance(event, Err):
            if event.is_stale:
                raise StaleConnectionError(f"server reported: {event.message}")
            if event.is_auth_error:
                error: NatsError = AuthorizationError(event.message)
            else:
                error = ServerError(event.message)
            self._report_error(error)
        elif isinstance(event, Ok):
            pass

    def _enter_lame_duck(self, conn: _Conn) -> None:
        if conn.server.lame_duck:
            return
        conn.server.lame_duck = True
        logger.info("server %s entered lame duck mode", conn.server.url)
        self._emit_nowait(self._opts.lame_duck_cb)
        if any(s is not conn.server and not s.lame_duck for s in self._pool.servers):
            assert self._bg_tg is not None
            self._bg_tg.start_soon(self._leave_lame_duck, conn)

    async def _leave_lame_duck(self, conn: _Conn) -> None:
        """Move to another server: flush what is queued, then drop this connection."""
        with anyio.move_on_after(self._opts.close_timeout):
            await self._wait_outbox_empty()
        if self._conn is conn:
            conn.fail(ConnectionError(f"server {conn.server.url} is in lame duck mode"))

    async def _writer(self, conn: _Conn) -> None:
        send = conn.stream.send
        while True:
            if not self._outbox:
                event = self._outbox_waiter = anyio.Event()
                await event.wait()
                continue
            data = bytes(self._outbox)
            self._outbox.clear()
            self._writing = True
            try:
                await send(data)
            finally:
                self._writing = False
                self._written.set()
                self._written = anyio.Event()

    async def _pinger(self, conn: _Conn) -> None:
        opts = self._opts
        while True:
            await anyio.sleep(opts.ping_interval)
            if conn.outstanding_pings >= opts.max_outstanding_pings:
                raise StaleConnectionError(
                    f"{conn.outstanding_pings} PINGs to {conn.server.url} unanswered"
                )
            conn.outstanding_pings += 1
            conn.pongs.append(None)
            self._write(PING)

    # ----------------------------------------------------------------- events & callbacks

    def _report_error(self, error: Exception) -> None:
        self.stats.errors += 1
        if self._opts.error_cb is None:
            logger.warning("nats: %s", error)
            return
        self._emit_nowait(self._opts.error_cb, error)

    def _emit_nowait(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            self._events_send.send_nowait((callback, args))
        except anyio.ClosedResourceError:
            logger.debug("nats: closed, dropped a call to %r", callback)
        except anyio.WouldBlock:
            logger.warning("nats: event queue full, dropped a call to %r", callback)

    async def _dispatch_events(self) -> None:
        try:
            async for callback, args in self._events_receive:
                try:
                    await self._call(callback, *args)
                except Exception:
                    logger.exception("nats: event callback %r failed", callback)
        finally:
            self._events_receive.close()
            self._dispatcher_done.set()

    @staticmethod
    async def _call(callback: Callable[..., Any], *args: Any) -> None:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result


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
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group.exceptions[0].__cause__
        raise
