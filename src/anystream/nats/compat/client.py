"""nats-py's ``Client`` API over :class:`anystream.nats.Client`.

Code written for nats-py (faststream's ``NatsBroker`` first of all) calls a small part of
nats-py's client: ``publish``, ``request``, ``subscribe`` (with a callback, an iterator or
``next_msg``), ``new_inbox``, ``flush``, ``drain``, ``jetstream()``, a few properties. This
module offers exactly that part, with nats-py's signatures, defaults and exceptions, over
the anyio-native client: it runs on asyncio and on trio alike, with no asyncio code.

Messages are :class:`Msg`, a subclass of ``nats.aio.msg.Msg`` whose ``_client`` is the
facade: nats-py's own ``ack``/``nak``/``term``/``in_progress``/``respond`` code runs
unchanged on it (it only calls ``self._client.publish`` / ``request``), and
``isinstance(msg, nats.aio.msg.Msg)`` holds. A publish to a JetStream ack subject
(``$JS.ACK.``...) with no reply subject and no headers, which is what those ack methods
send, is a deferred ack on the native client: it leaves with the client's next write
(see :class:`anystream.nats.outbox.Outbox`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio
import nats.aio.msg
import nats.errors
from nats.aio.client import ServerVersion
from nats.nuid import NUID

from ..._adapters.nats_py import new_msg
from .. import errors as native_errors
from ..client import Client as NativeClient
from ..subscription import DEFAULT_PENDING_BYTES_LIMIT, DEFAULT_PENDING_MSGS_LIMIT
from ..subscription import Msg as NativeMsg
from ..subscription import Subscription as NativeSubscription
from .errors import as_nats_py, nats_py_errors

if TYPE_CHECKING:
    from .jetstream import JetStreamContext

__all__ = ("Client", "DeliveringSubscription", "FacadeSubscription", "Msg", "Subscription")

Callback = Callable[["Msg"], Awaitable[None]]

ACK_PREFIX = "$JS.ACK."
"""Where JetStream messages are acknowledged (their reply subjects)."""


class Msg(nats.aio.msg.Msg):
    """A message as nats-py delivers it (``reply`` is ``""`` when there is none)."""

    @classmethod
    def from_native(cls, client: Client, msg: NativeMsg) -> Msg:
        return new_msg(
            cls,
            client,
            subject=msg.subject,
            reply=msg.reply or "",
            data=msg.data,
            headers=msg.headers,
            sid=msg.sid,
        )


class _Native(Protocol):
    """What each native subscription (core, push, pull) gives its facade."""

    @property
    def pending_msgs(self) -> int: ...

    @property
    def pending_bytes(self) -> int: ...

    @property
    def delivered(self) -> int: ...


class _NativeStream(_Native, Protocol):
    """A native subscription that delivers (core, push): iterated, drained."""

    def __aiter__(self) -> AsyncIterator[NativeMsg]: ...

    async def drain(self, timeout: float | None = None) -> None: ...


N = TypeVar("N", bound=_Native)
D = TypeVar("D", bound=_NativeStream)


class FacadeSubscription(Generic[N]):
    """A native subscription behind nats-py's API: the facade client, the counters."""

    def __init__(self, client: Client, native: N) -> None:
        self._client = client
        self._native = native

    @property
    def pending_msgs(self) -> int:
        return self._native.pending_msgs

    @property
    def pending_bytes(self) -> int:
        return self._native.pending_bytes

    @property
    def delivered(self) -> int:
        return self._native.delivered


class DeliveringSubscription(FacadeSubscription[D]):
    """A facade subscription messages are delivered to: ``messages``, ``drain()``."""

    @property
    def messages(self) -> AsyncIterator[Msg]:
        """Every message until the subscription ends."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Msg]:
        client = self._client
        async for msg in self._native:
            yield Msg.from_native(client, msg)

    async def drain(self) -> None:
        """Unsubscribe and wait until the messages in flight are processed."""
        with nats_py_errors():
            await self._native.drain()


class Subscription(DeliveringSubscription[NativeSubscription]):
    """nats-py's ``Subscription`` API over a native subscription."""

    @property
    def subject(self) -> str:
        return self._native.subject

    @property
    def queue(self) -> str:
        return self._native.queue or ""

    @property
    def dropped(self) -> int:
        """Messages dropped because the pending limits were reached (slow consumer)."""
        return self._native.dropped

    async def next_msg(self, timeout: float | None = 1.0) -> Msg:
        """The next message; ``nats.errors.TimeoutError`` after ``timeout`` seconds."""
        try:
            msg = await self._native.next_msg(timeout=timeout)
        except native_errors.SubscriptionClosedError:
            raise nats.errors.TimeoutError from None
        except native_errors.NatsError as exc:
            raise as_nats_py(exc) from exc
        return Msg.from_native(self._client, msg)

    async def unsubscribe(self, limit: int = 0) -> None:
        """Stop now, or after ``limit`` messages received in total."""
        if self._client.is_closed:
            raise nats.errors.ConnectionClosedError
        with nats_py_errors():
            await self._native.unsubscribe(limit or None)

    def __repr__(self) -> str:
        return f"<anystream nats-py facade {self._native!r}>"


class Client:
    """nats-py's ``Client`` API, over a connected :class:`anystream.nats.Client`.

    ``native`` is the anyio client; the caller owns its lifetime (``on_close`` is awaited
    after ``close()``/``drain()`` closed it, so the owner can wait for its task).
    """

    def __init__(
        self,
        native: NativeClient,
        *,
        inbox_prefix: str = "_INBOX",
        flush_timeout: float | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._native = native
        self._inbox_prefix = bytearray(inbox_prefix.encode())
        self._nuid = NUID()  # nats-py's JetStream code makes reply subjects with it
        self._flush_timeout = flush_timeout
        self._on_close = on_close
        self._dropped_closed: Counter[str] = Counter()
        self._subscriptions: list[Subscription] = []

    # ----------------------------------------------------------------- state

    @property
    def native(self) -> NativeClient:
        """The :class:`anystream.nats.Client` under this facade."""
        return self._native

    @property
    def is_connected(self) -> bool:
        return self._native.is_connected

    @property
    def is_closed(self) -> bool:
        return self._native.is_closed

    @property
    def is_reconnecting(self) -> bool:
        return self._native.is_reconnecting

    @property
    def is_connecting(self) -> bool:
        return False

    @property
    def is_draining(self) -> bool:
        return self._native.status.value == "draining"

    @property
    def connected_url(self) -> Any:
        return self._native.connected_url

    @property
    def servers(self) -> list[str]:
        return self._native.servers

    @property
    def max_payload(self) -> int:
        return self._native.max_payload

    @property
    def client_id(self) -> int | None:
        value = self._native.server_info.get("client_id")
        return int(value) if value is not None else None

    @property
    def connected_server_version(self) -> ServerVersion:
        return ServerVersion(str(self._native.server_info.get("version", "0.0.0")))

    @property
    def pending_data_size(self) -> int:
        return self._native.pending_bytes

    @property
    def stats(self) -> dict[str, int]:
        s = self._native.stats
        return {
            "in_msgs": s.in_msgs,
            "out_msgs": s.out_msgs,
            "in_bytes": s.in_bytes,
            "out_bytes": s.out_bytes,
            "reconnects": s.reconnects,
            "errors_received": s.errors,
        }

    def slow_consumer_drops(self) -> Counter[str]:
        """Messages dropped for slow consumers so far, by subject (closed subscriptions too)."""
        drops = Counter(self._dropped_closed)
        for sub in self._subscriptions:
            if sub.dropped:
                drops[sub.subject] += sub.dropped
        return drops

    def new_inbox(self) -> str:
        return self._native.new_inbox()

    # ----------------------------------------------------------------- messaging

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        with nats_py_errors():
            if not reply and not headers and subject.startswith(ACK_PREFIX):
                # nats-py's Msg.ack/nak/term/in_progress: leaves with the next write.
                await self._native._acknowledge(subject, payload)
            else:
                await self._native.publish(subject, payload, reply=reply or None, headers=headers)

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = 0.5,
        old_style: bool = False,
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        with nats_py_errors():
            msg = await self._native.request(subject, payload, timeout=timeout, headers=headers)
        return Msg.from_native(self, msg)

    async def subscribe(
        self,
        subject: str,
        queue: str = "",
        cb: Callback | None = None,
        future: Any = None,
        max_msgs: int = 0,
        pending_msgs_limit: int = DEFAULT_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_PENDING_BYTES_LIMIT,
    ) -> Subscription:
        """Subscribe as nats-py does: ``cb`` gets each message; ``future`` gets the first."""
        if future is not None and cb is None:

            async def cb(msg: Msg) -> None:
                if not future.done():
                    future.set_result(msg)

        native_cb = None
        if cb is not None:
            user_cb = cb

            async def native_cb(msg: NativeMsg) -> None:
                await user_cb(Msg.from_native(self, msg))

        with nats_py_errors():
            native_sub = await self._native.subscribe(
                subject,
                queue or None,
                cb=native_cb,
                max_msgs=max_msgs or None,
                pending_msgs_limit=pending_msgs_limit,
                pending_bytes_limit=pending_bytes_limit,
            )
        sub = Subscription(self, native_sub)
        self._track(sub)
        return sub

    def _track(self, sub: Subscription) -> None:
        live = []
        for known in self._subscriptions:
            if known._native.closed:
                if known.dropped:
                    self._dropped_closed[known.subject] += known.dropped
            else:
                live.append(known)
        live.append(sub)
        self._subscriptions = live

    async def flush(self, timeout: float | None = None) -> None:
        """Send what is queued and wait for the server's PONG."""
        with nats_py_errors():
            await self._native.flush(timeout if timeout is not None else self._flush_timeout)

    async def round_trip(self, timeout: float | None = None) -> float:
        """One PING/PONG round trip; its duration in seconds (anystream extension)."""
        with nats_py_errors():
            return await self._native.flush(timeout)

    async def alive(self, timeout: float | None = None) -> bool:
        """PONG or messages received since the PING (anystream extension, see ``Client.alive``)."""
        return await self._native.alive(timeout)

    async def drain(self) -> None:
        """Stop receiving, finish what is in flight, flush, close."""
        try:
            with nats_py_errors():
                await self._native.drain()
        finally:
            await self._closed()

    async def close(self) -> None:
        await self._native.close()
        await self._closed()

    async def _closed(self) -> None:
        if self._on_close is not None:
            with anyio.CancelScope(shield=True):
                await self._on_close()

    # ----------------------------------------------------------------- JetStream

    def jetstream(self, **options: Any) -> JetStreamContext:
        """A JetStream context (nats-py's API) on this connection."""
        from .jetstream import JetStreamContext

        return JetStreamContext(self, **options)

    def jsm(self, **options: Any) -> Any:
        """JetStream management (nats-py's ``JetStreamManager``) on this connection."""
        from nats.js.manager import JetStreamManager

        return JetStreamManager(self, **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<anystream nats-py facade over {self._native.connected_url or 'closed'}>"
