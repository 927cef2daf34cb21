"""Messages as the application sees them, and subscriptions with bounded pending queues."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from .errors import NatsTimeoutError, SlowConsumerError, SubscriptionClosedError
from .protocol import HeadersInput

if TYPE_CHECKING:
    from .client import Client
    from .connection import SubscriptionState

__all__ = ("Msg", "MsgCallback", "Subscription")

DEFAULT_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_PENDING_BYTES_LIMIT = 128 * 1024 * 1024


class Msg:
    """A received message.

    ``data`` is the payload; ``headers`` maps each header name to its last value (all
    values, in order, are in ``header_pairs``); ``status`` is set for status messages
    such as 503 (no responders). :meth:`respond` publishes to ``reply``.
    """

    __slots__ = (
        "_client",
        "data",
        "description",
        "header_pairs",
        "reply",
        "sid",
        "status",
        "subject",
    )

    def __init__(
        self,
        client: Client | None,
        subject: str,
        reply: str | None,
        data: bytes,
        sid: int = 0,
        header_pairs: tuple[tuple[str, str], ...] | None = None,
        status: int | None = None,
        description: str = "",
    ) -> None:
        self._client = client
        self.subject = subject
        self.reply = reply
        self.data = data
        self.sid = sid
        self.header_pairs = header_pairs
        self.status = status
        self.description = description

    @property
    def headers(self) -> dict[str, str] | None:
        """Header name to (last) value, or ``None`` when the message had no headers."""
        if self.header_pairs is None:
            return None
        return dict(self.header_pairs)

    @property
    def payload(self) -> bytes:
        """Same as ``data``."""
        return self.data

    async def respond(self, data: bytes = b"", *, headers: HeadersInput | None = None) -> None:
        """Publish ``data`` to this message's reply subject.

        Raises ``ValueError`` when the message has no reply subject.
        """
        if not self.reply:
            raise ValueError(f"message on {self.subject!r} has no reply subject to respond to")
        if self._client is None:
            raise ValueError("message is not bound to a client")
        await self._client.publish(self.reply, data, headers=headers)

    def __repr__(self) -> str:
        extra = f", headers={self.headers}" if self.header_pairs is not None else ""
        reply = f", reply={self.reply!r}" if self.reply else ""
        return f"Msg(subject={self.subject!r}{reply}, data={self.data[:64]!r}{extra})"


MsgCallback = Callable[[Msg], Awaitable[None]]


class Subscription:
    """Interest in a subject: iterate it (``async for msg in sub``) or give a callback.

    Received messages wait in a queue bounded by ``pending_msgs_limit`` and
    ``pending_bytes_limit``; when either is reached, new messages are dropped, counted
    in ``dropped`` and reported once per episode as :class:`SlowConsumerError` to the
    client's error callback. Iteration ends after :meth:`unsubscribe`, :meth:`drain`,
    the auto-unsubscribe limit or the client's close, once the queue is empty.
    """

    def __init__(
        self,
        client: Client,
        sid: int,
        subject: str,
        queue: str | None = None,
        *,
        cb: MsgCallback | None = None,
        max_msgs: int | None = None,
        pending_msgs_limit: int = DEFAULT_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_PENDING_BYTES_LIMIT,
        handler: Callable[[Msg], None] | None = None,
        state: SubscriptionState | None = None,
    ) -> None:
        if state is None:
            from .connection import SubscriptionState

            state = SubscriptionState(sid, subject, queue, max_msgs, target=self)
        self._client = client
        self._state = state
        """The protocol's record of it: auto-unsubscribe limit, messages received."""
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self._cb = cb
        self._handler = handler
        self.pending_msgs_limit = pending_msgs_limit
        self.pending_bytes_limit = pending_bytes_limit
        self._queue: deque[Msg] = deque()
        self._pending_bytes = 0
        self._wakeup: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._processing = False
        self._closed = False
        self._slow = False
        self.delivered = 0
        """Messages handed to the application (iterator or callback)."""
        self.dropped = 0
        """Messages dropped because the pending limits were reached."""

    # ----------------------------------------------------------------- state

    @property
    def pending_msgs(self) -> int:
        return len(self._queue)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def received(self) -> int:
        """Messages the server sent for this subscription (dropped ones included)."""
        return self._state.received

    @property
    def max_msgs(self) -> int | None:
        """The auto-unsubscribe limit, if any."""
        return self._state.max_msgs

    @property
    def closed(self) -> bool:
        """True once no more messages will be queued."""
        return self._closed

    # ----------------------------------------------------------------- called by the client

    def _deliver(self, msg: Msg) -> None:
        size = len(msg.data)
        queue = self._queue
        if len(queue) >= self.pending_msgs_limit or (
            self._pending_bytes + size > self.pending_bytes_limit
        ):
            self.dropped += 1
            if not self._slow:
                self._slow = True
                self._client._report_error(SlowConsumerError(self.subject, self.sid, self.dropped))
            return
        self._slow = False
        queue.append(msg)
        self._pending_bytes += size
        self._client._backlog += 1
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()

    def _close(self) -> None:
        self._closed = True
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()
        self._notify_idle()

    def _notify_idle(self) -> None:
        if self._idle is not None and not self._queue and not self._processing:
            self._idle.set()

    async def _wait_processed(self) -> None:
        """Wait until every queued message was taken (and its callback returned)."""
        while self._queue or self._processing:
            event = self._idle = anyio.Event()
            await event.wait()

    async def _next(self) -> Msg:
        queue = self._queue
        if not queue or not self.delivered & 63:
            if queue:
                # Messages were waiting, so nothing awaited: every 64 messages, check
                # for cancellation and let other tasks run, as an await would.
                await anyio.lowlevel.checkpoint()
            while not queue:
                if self._closed:
                    raise SubscriptionClosedError(
                        f"subscription to {self.subject!r} is closed and has no more messages"
                    )
                # About to wait for the server: acks deferred so far go now.
                self._client._outbox.flush_deferred()
                event = self._wakeup = anyio.Event()
                await event.wait()
        msg = queue.popleft()
        self._pending_bytes -= len(msg.data)
        self._client._backlog -= 1
        self.delivered += 1
        if not queue and self._idle is not None:
            self._notify_idle()
        return msg

    async def _run_callback(self) -> None:
        cb = self._cb
        assert cb is not None
        while True:
            try:
                msg = await self._next()
            except SubscriptionClosedError:
                return
            self._processing = True
            try:
                await cb(msg)
            except Exception as exc:
                self._client._report_error(exc)
            finally:
                self._processing = False
                self._notify_idle()

    # ----------------------------------------------------------------- public API

    async def next_msg(self, timeout: float | None = None) -> Msg:
        """The next message; waits up to ``timeout`` seconds (``None``: no limit).

        Raises :class:`NatsTimeoutError` on timeout and :class:`SubscriptionClosedError`
        once the subscription is closed and its queue empty.
        """
        if self._cb is not None:
            raise ValueError("next_msg() is not available on a subscription with a callback")
        if timeout is None:
            return await self._next()
        with anyio.move_on_after(timeout):
            return await self._next()
        raise NatsTimeoutError(f"no message on {self.subject!r} within {timeout} s")

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Msg:
        try:
            return await self._next()
        except SubscriptionClosedError:
            raise StopAsyncIteration from None

    async def unsubscribe(self, limit: int | None = None) -> None:
        """Stop now, or (with ``limit``) after ``limit`` messages received in total.

        Messages already queued can still be iterated.
        """
        await self._client._unsubscribe(self, limit)

    async def drain(self, timeout: float | None = None) -> None:
        """Unsubscribe, let the messages in flight arrive, and wait until they are processed."""
        await self._client._drain_subscription(self, timeout)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._closed:
            await self.unsubscribe()

    def __repr__(self) -> str:
        queue = f", queue={self.queue!r}" if self.queue else ""
        return f"Subscription(subject={self.subject!r}{queue}, sid={self.sid})"
