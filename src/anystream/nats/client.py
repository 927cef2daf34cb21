"""The NATS connection on anyio: the same code runs on asyncio and trio.

:class:`Client` is the API users call (get one from :func:`~anystream.nats.connect`).
What runs underneath is in layers: the sans-IO protocol state (:mod:`.connection`, on the
codec in :mod:`.protocol`), the server pool and backoff (:mod:`.servers`), and the I/O
shell that runs them (:mod:`.shell`: the connection's life; :mod:`.link`: reader, writer,
pinger and flusher of one network connection; :mod:`.network`: connector, TLS, handshake).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import anyio

from .errors import (
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    NatsTimeoutError,
    NoRespondersError,
    OutboundBufferFullError,
)
from .link import PongWaiter
from .options import Options, Status
from .outbox import Outbox
from .protocol import HeadersInput, pub_command
from .shell import IOShell, Reply, in_background
from .subscription import Msg, MsgCallback, Subscription

__all__ = ("Client",)


ALIVE_POLL_INTERVAL = 0.005
"""How often :meth:`Client.alive` looks for messages received since its PING."""


class Client(IOShell):
    """A NATS connection. Get one from :func:`connect`; do not construct it directly."""

    def __init__(self, servers: Sequence[str], options: Options) -> None:
        super().__init__(servers, options)
        self._resp_prefix = f"{options.inbox_prefix}.{secrets.token_hex(11)}"
        self._resp_sub: Subscription | None = None
        self._next_token = 0

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
        return dict(self._proto.info)

    @property
    def subscriptions(self) -> int:
        """Number of active subscriptions (the shared request inbox counts as one)."""
        return len(self._proto.subscriptions)

    @property
    def max_payload(self) -> int:
        return self._proto.max_payload

    @property
    def pending_bytes(self) -> int:
        """Bytes of commands waiting to be written (e.g. publishes held while disconnected)."""
        return len(self._outbox.buffer)

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
            subject, payload, reply=reply, headers=headers, max_payload=self._proto.max_payload
        )
        outbox = self._admit(subject, command, payload)
        buffer = outbox.buffer
        buffer += command
        waiter = outbox.waiter
        if waiter is not None:
            outbox.waiter = None
            waiter.set()
        if len(buffer) > self._opts.write_buffer_size:
            await self._wait_write_room()

    async def _acknowledge(self, subject: str, payload: bytes) -> None:
        """Publish a JetStream ack (``payload`` to the message's reply ``subject``), deferred.

        It is queued without waking the writer, so it goes out in the same write as the
        next command (typically the pull request that follows): see
        :class:`~anystream.nats.outbox.Outbox`. It still leaves within ``DEFER_LIMIT``
        seconds, and before any flush, request or close completes. Order is kept: it
        goes after every publish made before it and before every one made after it.
        """
        if self._closing:
            raise ConnectionClosedError("cannot acknowledge: the connection is closed")
        command = pub_command(subject, payload, max_payload=self._proto.max_payload)
        outbox = self._admit(subject, command, payload)
        outbox.defer(command)
        if len(outbox) > self._opts.write_buffer_size:
            outbox.wake()
            await self._wait_write_room()

    def _admit(self, subject: str, command: bytes, payload: bytes) -> Outbox:
        """The outbox ``command`` may go into (counted in the stats), or raise
        :class:`OutboundBufferFullError` while reconnecting with the reconnect buffer full."""
        outbox = self._outbox
        if self._link is None and len(outbox) + len(command) > self._opts.reconnect_buffer_size:
            self._reconnect_buffer_full(subject)
        stats = self.stats
        stats.out_msgs += 1
        stats.out_bytes += len(payload)
        return outbox

    def _reconnect_buffer_full(self, subject: str) -> None:
        raise OutboundBufferFullError(
            f"cannot publish to {subject!r} while reconnecting: the reconnect buffer of "
            f"{self._opts.reconnect_buffer_size} bytes is full"
        )

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

    async def _drain_subscription(self, sub: Subscription, timeout: float | None) -> None:
        if sub.closed:
            await sub._wait_processed()
            return
        with anyio.move_on_after(timeout or self._opts.drain_timeout) as scope:
            self._write(self._proto.drain(sub.sid))
            if self.is_connected:
                await self.flush()
            self._proto.unsubscribe(sub.sid)  # UNSUB already sent: nothing more to send
            sub._close()
            await sub._wait_processed()
        if scope.cancelled_caught:
            raise DrainTimeoutError(f"draining the subscription to {sub.subject!r} timed out")

    def _on_response(self, msg: Msg) -> None:
        token = msg.subject[len(self._resp_prefix) + 1 :]
        reply = self._requests.pop(token, None)
        if reply is not None:
            reply.msg = msg
            reply.event.set()

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
        reply = Reply()
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
                await self._wait_connected()
                waiter = PongWaiter()
                started = anyio.current_time()
                self._write(self._proto.ping(waiter))
                await waiter.event.wait()
                if waiter.ok:
                    return anyio.current_time() - started
                self._check_open()
        raise NatsTimeoutError(f"flush got no PONG within {limit} s")

    async def alive(self, timeout: float | None = None) -> bool:
        """True once the server proves alive: its PONG to a PING sent now, or messages received
        after that PING was sent.

        Under a backlog the PONG waits behind the messages the server already sent (and,
        with backlog pacing, behind those it still holds), but a connection that keeps
        delivering is not half-open. While the client reconnects (a server died, another
        takes over) it waits for the new connection and asks that one, within the same
        ``timeout`` (default ``flush_timeout``); False once that has passed, or at once when
        the client is closed or draining. A health check's question; :meth:`flush` is the
        one that waits for the PONG.
        """
        limit = self._opts.flush_timeout if timeout is None else timeout
        with anyio.move_on_after(limit):
            while self._status in (Status.CONNECTED, Status.CONNECTING, Status.RECONNECTING):
                if self._status is not Status.CONNECTED:
                    await self._connected.wait()
                    continue
                before = self.stats.in_msgs
                waiter = PongWaiter()
                self._write(self._proto.ping(waiter))
                while not waiter.event.is_set() and self.stats.in_msgs == before:
                    with anyio.move_on_after(ALIVE_POLL_INTERVAL):
                        await waiter.event.wait()
                if waiter.ok or self.stats.in_msgs != before:
                    return True
                # The connection was lost before the PONG: ask the next one.
        return False

    async def drain(self, timeout: float | None = None) -> None:
        """Stop receiving, process what is in flight, flush publishes, then close.

        Every subscription is unsubscribed; messages the server already sent are still
        delivered and processed (callbacks return, iterators are read) before closing.
        Raises :class:`DrainTimeoutError` when that takes longer than ``timeout`` (default
        ``drain_timeout``); the connection is closed in any case.
        """
        if self._closing:
            return
        self._status = Status.DRAINING if self._link is not None else self._status
        limit = self._opts.drain_timeout if timeout is None else timeout
        try:
            with anyio.move_on_after(limit) as scope:
                subs = [
                    s.target
                    for s in self._proto.subscriptions.values()
                    if s.target is not self._resp_sub
                ]
                for sub in subs:
                    self._write(self._proto.drain(sub.sid))
                await self.flush()
                for sub in subs:
                    self._proto.unsubscribe(sub.sid)
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
        background = in_background.get()
        with anyio.CancelScope(shield=True):
            if not self._closing:
                self._closing = True
                with anyio.move_on_after(self._opts.close_timeout):
                    await self._wait_outbox_empty()
                self._mark_closed()
                self._callbacks.emit(self._opts.closed_cb)
            self._callbacks.close()
            if not background:
                with anyio.move_on_after(self._opts.close_timeout):
                    await self._callbacks.done.wait()
            self._bg_scope.cancel()
            if not background:
                await self._bg_done.wait()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by ``close``, ``drain`` or giving up)."""
        await self._closed_event.wait()


def __getattr__(name: str) -> Any:
    # connect() lives in .session (it needs Client); still importable from here.
    if name == "connect":
        from .session import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
