"""The I/O shell under :class:`~anystream.nats.Client`: the connection's life in tasks.

Everything the protocol decides is in :class:`~anystream.nats.connection.Connection`
(sans-IO) and everything about which server to try next, and when, in
:class:`~anystream.nats.servers.ServerPool`. This module runs them: it opens network
connections (:mod:`.network`: connector, TLS, handshake), serves each one while it is up
(:class:`~anystream.nats.link.Link`: reader, writer, pinger, flusher), reconnects when it drops,
and runs the user's event callbacks in order (:mod:`.callbacks`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.abc

from . import auth, network
from .callbacks import CallbackRunner
from .connection import Connection
from .errors import AuthorizationError, ConnectionClosedError, NoServersError
from .link import NETWORK_ERRORS, Link
from .options import Options, Statistics, Status, check_pacing
from .outbox import Outbox
from .servers import Backoff, Server, ServerPool
from .subscription import Msg, Subscription

if TYPE_CHECKING:
    from .client import Client

__all__ = ("IOShell", "in_background")

logger = logging.getLogger("anystream.nats")

# Set inside the client's background tasks, so close() called from a callback does not
# wait for its own task to finish.
in_background: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "anystream_nats_background", default=False
)


class Reply:
    """A request waiting for its reply."""

    __slots__ = ("event", "msg")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.msg: Msg | None = None


class IOShell:
    """State and background tasks of a client; the public API is in :class:`Client`."""

    def __init__(self, servers: Sequence[str], options: Options) -> None:
        check_pacing(
            read_checkpoint_events=options.read_checkpoint_events,
            read_checkpoint_budget=options.read_checkpoint_budget,
            backlog_limit=options.backlog_limit,
            backlog_read_size=options.backlog_read_size,
        )
        self._opts = options
        self._backlog = 0
        """Messages queued in subscriptions (callback or iterator), not taken yet."""
        self._pool = ServerPool(servers, randomize=options.randomize)
        self._backoff = Backoff(
            options.reconnect_wait,
            options.reconnect_wait_max,
            options.reconnect_jitter,
            options.max_reconnect_attempts,
        )
        self._url_auth = next(
            (s for s in self._pool.servers if s.user is not None or s.token is not None), None
        )
        self._creds: auth.Credentials | None = None
        if options.creds is not None:
            self._creds = auth.load_creds(options.creds)
        self.stats = Statistics()
        """Messages and bytes in and out, reconnects, errors."""
        self._proto = Connection(stats=self.stats)
        self._outbox = Outbox()
        self._status = Status.CONNECTING
        self._link: Link | None = None
        self._server: Server | None = None
        self._connected = anyio.Event()
        self._closing = False
        self._closed_event = anyio.Event()
        self._requests: dict[str, Reply] = {}
        self._bg_tg: anyio.abc.TaskGroup | None = None
        self._bg_scope = anyio.CancelScope()
        self._bg_done = anyio.Event()
        self._callbacks = CallbackRunner()

    # ----------------------------------------------------------------- shared helpers

    def _write(self, command: bytes) -> None:
        """Queue a command that belongs to the current network connection (SUB, PING...)."""
        self._outbox.control(command)

    def _report_error(self, error: Exception) -> None:
        self.stats.errors += 1
        if self._opts.error_cb is None:
            logger.warning("nats: %s", error)
            return
        self._callbacks.emit(self._opts.error_cb, error)

    def _mark_closed(self) -> None:
        self._closing = True
        self._status = Status.CLOSED
        for sub in list(self._proto.subscriptions.values()):
            sub.target._close()
        self._proto.subscriptions.clear()
        for reply in self._requests.values():
            reply.event.set()
        self._requests.clear()
        for waiter in self._proto.connection_lost():
            waiter.event.set()
        self._connected.set()
        self._outbox.mark_written()
        self._closed_event.set()

    async def _wait_outbox_empty(self) -> None:
        outbox = self._outbox
        outbox.wake()  # deferred acks too
        while (outbox.buffer or outbox.writing) and self._status in (
            Status.CONNECTED,
            Status.DRAINING,
        ):
            await outbox.wait_written()

    # ----------------------------------------------------------------- plumbing of the API

    async def _wait_write_room(self) -> None:
        while len(self._outbox.buffer) > self._opts.write_buffer_size and self._status in (
            Status.CONNECTED,
            Status.DRAINING,
        ):
            await self._outbox.wait_written()

    def _add_subscription(
        self, subject: str, queue: str | None, *, max_msgs: int | None = None, **kwargs: Any
    ) -> Subscription:
        state, command = self._proto.subscribe(subject, queue, max_msgs=max_msgs)
        sub = Subscription(cast("Client", self), state.sid, subject, queue, state=state, **kwargs)
        state.target = sub
        self._write(command)
        return sub

    async def _unsubscribe(self, sub: Subscription, limit: int | None) -> None:
        if sub.closed:
            return
        command = self._proto.unsubscribe(sub.sid, limit)
        if not self._closing:
            self._write(command)
        if sub._state.done:
            sub._close()

    async def _wait_connected(self) -> Link:
        while True:
            self._check_open()
            if self._link is not None and self._status in (Status.CONNECTED, Status.DRAINING):
                return self._link
            await self._connected.wait()

    def _check_open(self) -> None:
        if self._closing:
            raise ConnectionClosedError("the connection is closed")

    # ----------------------------------------------------------------- lifecycle

    async def _connect_first(self) -> None:
        """Connect to the first reachable server of the list."""
        errors: list[str] = []
        auth_error: AuthorizationError | None = None
        link = None
        for server in self._pool.rotation(None):
            try:
                link = await self._open(server)
                break
            except AuthorizationError as exc:
                auth_error = exc
                errors.append(f"{server.url}: {exc}")
            except (OSError, TimeoutError, *NETWORK_ERRORS) as exc:
                errors.append(f"{server.url}: {exc!r}")
        if link is None:
            self._mark_closed()
            self._callbacks.close(started=False)
            if auth_error is not None:
                raise auth_error
            raise NoServersError("could not connect to any server: " + "; ".join(errors))
        self._set_connected(link)

    async def _background(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        in_background.set(True)
        try:
            with self._bg_scope:
                async with anyio.create_task_group() as tg:
                    self._bg_tg = tg
                    tg.start_soon(self._callbacks.run, name="nats events")
                    task_status.started()
                    await self._supervise()
                    # Gave up reconnecting: let the queued callbacks run, then stop.
                    self._callbacks.close()
                    with anyio.move_on_after(self._opts.close_timeout):
                        await self._callbacks.done.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._bg_done.set()

    async def _supervise(self) -> None:
        link = self._link
        while link is not None:
            error = await link.serve()
            if self._closing:
                return
            self._set_disconnected(link, error)
            if not self._opts.allow_reconnect:
                self._give_up(ConnectionClosedError(f"disconnected: {error!r}"))
                return
            try:
                link = await self._reconnect(link.server)
            except NoServersError as exc:
                self._give_up(exc)
                return
            self.stats.reconnects += 1
            self._set_connected(link)
            self._callbacks.emit(self._opts.reconnected_cb)

    def _give_up(self, error: Exception) -> None:
        self._report_error(error)
        self._mark_closed()
        self._callbacks.emit(self._opts.closed_cb)

    def _set_connected(self, link: Link) -> None:
        # The restore goes ahead of what was queued while disconnected (publishes, and
        # SUBs made after the handshake); no await here, so nothing slips in between.
        for sub in link.connected.expired:
            sub.target._close()
        self._outbox.prepend(link.connected.restore)
        # A server that accepted a connection is not in lame duck mode (any more).
        link.server.lame_duck = False
        self._discover(link.server, link.connected.info)
        self._link = link
        self._server = link.server
        self._status = Status.CONNECTED
        self._connected.set()

    def _set_disconnected(self, link: Link, error: BaseException | None) -> None:
        logger.info("disconnected from %s: %r", link.server.url, error)
        self._link = None
        self._status = Status.RECONNECTING
        self._outbox.connection_lost()
        self._connected = anyio.Event()
        for waiter in self._proto.connection_lost():
            waiter.event.set()
        self._outbox.mark_written()
        self._pool.disconnected(link.server, anyio.current_time())
        self._callbacks.emit(self._opts.disconnected_cb)

    async def _reconnect(self, previous: Server) -> Link:
        pool = self._pool
        for server, delay in pool.reconnect_plan(previous, self._backoff, anyio.current_time):
            if delay > 0:
                await anyio.sleep(delay)
            pool.attempted(server, anyio.current_time())
            try:
                link = await self._open(server)
            except (OSError, TimeoutError, *NETWORK_ERRORS) as exc:
                logger.debug("reconnect to %s failed: %r", server.url, exc)
                if isinstance(exc, AuthorizationError):
                    self._report_error(exc)
                pool.failed(server, self._backoff)
                continue
            pool.succeeded(server)
            return link
        raise NoServersError("gave up reconnecting: no server left to try")

    async def _open(self, server: Server) -> Link:
        """Open a stream through the connector, upgrade to TLS if needed, authenticate."""
        opts = self._opts
        with anyio.fail_after(opts.connect_timeout):
            stream = await network.open_stream(opts.connector, server)
            try:
                stream, connected = await network.handshake(
                    stream,
                    self._proto,
                    server,
                    connect_options=partial(
                        network.connect_options,
                        server=server,
                        name=opts.name,
                        echo=opts.echo,
                        tls=opts.tls is not None,
                        user=opts.user,
                        password=opts.password,
                        token=opts.token,
                        nkey_seed=opts.nkey_seed,
                        creds=self._creds,
                        url_auth=self._url_auth,
                    ),
                    tls=opts.tls,
                    tls_hostname=opts.tls_hostname,
                )
            except BaseException:
                self._proto.connection_lost()
                await anyio.aclose_forcefully(stream)
                raise
        return Link(self, stream, server, connected)

    def _discover(self, server: Server, info: dict[str, Any]) -> None:
        urls = info.get("connect_urls")
        if isinstance(urls, list):
            self._pool.add_discovered((str(u) for u in urls), tls=server.tls)

    def _on_info(self, link: Link, info: dict[str, Any]) -> None:
        """INFO on a live connection: servers announced, lame duck mode."""
        lame_duck = bool(info.get("ldm"))
        was_lame_duck = link.server.lame_duck
        self._discover(link.server, info)  # clears the mark of servers announced again
        if lame_duck:
            link.server.lame_duck = was_lame_duck
            self._enter_lame_duck(link)

    # ----------------------------------------------------------------- connection tasks

    def _enter_lame_duck(self, link: Link) -> None:
        if link.server.lame_duck:
            return
        link.server.lame_duck = True
        logger.info("server %s entered lame duck mode", link.server.url)
        self._callbacks.emit(self._opts.lame_duck_cb)
        if any(s is not link.server and not s.lame_duck for s in self._pool.servers):
            assert self._bg_tg is not None
            self._bg_tg.start_soon(self._leave_lame_duck, link)

    async def _leave_lame_duck(self, link: Link) -> None:
        """Move to another server: flush what is queued, then drop this connection."""
        with anyio.move_on_after(self._opts.close_timeout):
            await self._wait_outbox_empty()
        if self._link is link:
            link.fail(ConnectionError(f"server {link.server.url} is in lame duck mode"))
