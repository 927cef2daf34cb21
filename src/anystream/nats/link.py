"""One live network connection and its tasks: reader, writer, pinger, flusher.

The reader handles the server's events one at a time (:meth:`Connection.next_event`) and
lets other tasks run between them: an ``anyio.lowlevel.checkpoint()`` every
``read_checkpoint_events`` events or once ``read_checkpoint_budget`` seconds have passed
without suspending, whichever comes first. A read is a checkpoint too, so with no backlog
(a few events per read) this costs nothing; with thousands of messages waiting it keeps
the rest of the process (HTTP requests, health checks, handlers) running while they are
taken in.

It also paces its reads by the client's *backlog*: the messages queued in callback and
iterator subscriptions that the application has not taken yet. Under ``backlog_limit``
(512 messages by default) it reads up to 256 KiB at a time. At or over it, the
application is behind: the reader lets other tasks run before each read and asks for
``backlog_read_size`` bytes only (2 KiB, a few dozen messages), so the CPU goes to the
handlers and HTTP, the server holds the excess (TCP backpressure), and PINGs, PONGs and
fresh messages still come through. ``backlog_limit=None`` turns this off.

The writer sends everything queued in one write each time it is woken. JetStream acks do
not wake it (:meth:`Outbox.defer`): they go with the next command that does, usually the
pull request a consumer sends right after acking. The flusher wakes it for acks that
found no company within :data:`~anystream.nats.outbox.DEFER_LIMIT`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import anyio
import anyio.abc
import anyio.lowlevel

from . import network
from .commands import PONG
from .connection import NEED_DATA, Connected, PongReceived, error_from
from .errors import NatsError, StaleConnectionError
from .protocol import Err, Info, Ping
from .protocol import Msg as MsgEvent
from .servers import Server
from .subscription import Msg

if TYPE_CHECKING:
    from .client import Client
    from .shell import IOShell

__all__ = ("NETWORK_ERRORS", "Link", "PongWaiter")

NETWORK_ERRORS = (
    OSError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    NatsError,
)


class PongWaiter:
    """What a flush gives :meth:`Connection.ping`: set when the PONG (or the end) comes."""

    __slots__ = ("event", "ok")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.ok = False


@dataclass(eq=False)
class Link:
    """One live network connection to one server, served by :meth:`serve`."""

    owner: IOShell
    stream: anyio.abc.ByteStream
    server: Server
    connected: Connected
    scope: anyio.CancelScope | None = None
    error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        """End this connection (its tasks are cancelled); ``error`` says why."""
        if self.error is None:
            self.error = error
        if self.scope is not None:
            self.scope.cancel()

    async def serve(self) -> BaseException | None:
        """Run reader, writer, pinger and flusher until one fails; close the stream; return why."""

        async def guard(task: Callable[[], Awaitable[None]]) -> None:
            try:
                await task()
            except NETWORK_ERRORS as exc:
                self.fail(exc)

        try:
            async with anyio.create_task_group() as tg:
                self.scope = tg.cancel_scope
                tg.start_soon(guard, self._reader, name="nats reader")
                tg.start_soon(guard, self._writer, name="nats writer")
                tg.start_soon(guard, self._pinger, name="nats pinger")
                tg.start_soon(guard, self._flusher, name="nats flusher")
        finally:
            self.scope = None
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self.stream)
        return self.error

    async def _reader(self) -> None:
        """Handle the server's events one at a time, letting other tasks run in between."""
        owner = self.owner
        client = cast("Client", owner)  # Client is the only IOShell
        next_event = owner._proto.next_event
        receive_data = owner._proto.receive_data
        receive = self.stream.receive
        handle = self._handle
        every = owner._opts.read_checkpoint_events
        budget = owner._opts.read_checkpoint_budget
        clock = time.perf_counter
        checkpoint = anyio.lowlevel.checkpoint
        read_size = network.READ_SIZE
        limit = owner._opts.backlog_limit
        small = owner._opts.backlog_read_size
        stats = owner.stats
        count = 0
        deadline = clock() + budget
        while True:
            event = next_event()
            if type(event) is MsgEvent:
                state = event.subscription
                sub = state.target
                msg = Msg(
                    client,
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
                if state.done:
                    sub._close()
            elif event is NEED_DATA:
                # A read is a checkpoint too: the count starts again after it.
                if limit is not None and owner._backlog >= limit:
                    # The application is behind: let it run first, then take a little.
                    stats.paced_reads += 1
                    await checkpoint()
                    receive_data(await receive(small))
                else:
                    receive_data(await receive(read_size))
                count = 0
                deadline = clock() + budget
                continue
            else:
                handle(event)
            count += 1
            if count >= every or clock() >= deadline:
                await checkpoint()
                count = 0
                deadline = clock() + budget

    def _handle(self, event: object) -> None:
        owner = self.owner
        if type(event) is PongReceived:
            waiter = event.waiter
            if waiter is not None:
                waiter.ok = True
                waiter.event.set()
        elif type(event) is Ping:
            owner._write(PONG)
        elif isinstance(event, Info):
            owner._on_info(self, event.options)
        elif isinstance(event, Err):
            if event.is_stale:
                raise StaleConnectionError(f"server reported: {event.message}")
            owner._report_error(error_from(event))

    async def _writer(self) -> None:
        send = self.stream.send
        outbox = self.owner._outbox
        while True:
            await outbox.wait_data()
            data = outbox.take()
            outbox.writing = True
            try:
                await send(data)
            finally:
                outbox.writing = False
                outbox.mark_written()

    async def _flusher(self) -> None:
        """Wake the writer for deferred commands (acks) that waited :data:`DEFER_LIMIT`."""
        outbox = self.owner._outbox
        while True:
            due = outbox.deferred_due()
            if due is None:
                event = outbox.flusher = anyio.Event()
                await event.wait()
            elif due > 0:
                await anyio.sleep(due)
            else:
                outbox.wake()
                await outbox.wait_written()

    async def _pinger(self) -> None:
        opts = self.owner._opts
        proto = self.owner._proto
        while True:
            await anyio.sleep(opts.ping_interval)
            if proto.outstanding_pings >= opts.max_outstanding_pings:
                raise StaleConnectionError(
                    f"{proto.outstanding_pings} PINGs to {self.server.url} unanswered"
                )
            self.owner._write(proto.ping())
