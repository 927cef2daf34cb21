"""Pull consumers: the application asks for batches (``fetch``) and the server answers.

A fetch publishes a pull request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``)
with a reply subject of its own, ``<inbox>.<n>``, under one wildcard subscription. The
server answers with messages and ends the request with a status message on that
subject: 404 (no messages, with ``no_wait``), 408 (the request expired), 409 (a
conflict: max bytes reached, consumer deleted, a limit exceeded), 100 (heartbeat).
:class:`FetchState` decides, for each message received, what the fetch does: no I/O,
so every case is unit-tested. :class:`PullSubscription` is the thin I/O around it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from nats.js import api

from ..errors import NatsTimeoutError
from ..subscription import Msg, Subscription
from ._subscription import ConsumerSubscription
from .errors import (
    BadRequestError,
    ConsumerDeletedError,
    FetchTimeoutError,
    JetStreamError,
    NotFoundError,
    ServiceUnavailableError,
)
from .msg import JsMsg
from .push import DEFAULT_PENDING_BYTES, DEFAULT_PENDING_MSGS

if TYPE_CHECKING:
    from .context import JetStream

__all__ = ("FetchState", "PullSubscription", "bind_pull", "pull_request", "pull_subscribe")

_NS = 1_000_000_000
_EXPIRES_MARGIN = 0.1  # the server's 408 should arrive before the client's deadline


def pull_request(
    batch: int,
    timeout: float | None,
    *,
    no_wait: bool = False,
    max_bytes: int | None = None,
    heartbeat: float | None = None,
) -> dict[str, Any]:
    """The JSON body of a pull request (pure)."""
    request: dict[str, Any] = {"batch": batch}
    if no_wait:
        request["no_wait"] = True  # the server ignores no_wait when expires is set
    elif timeout:
        request["expires"] = int(max(timeout - min(_EXPIRES_MARGIN, timeout / 10), 0.001) * _NS)
    if max_bytes:
        request["max_bytes"] = max_bytes
    if heartbeat:
        request["idle_heartbeat"] = int(heartbeat * _NS)
    return request


@dataclass
class FetchState:
    """One pull request in progress: feed it what arrives, read ``done`` and ``msgs``."""

    batch: int
    reply: str
    """The request's own reply subject: status messages on other subjects are stale."""
    msgs: list[Msg] = field(default_factory=list)
    done: bool = False
    status: int | None = None
    """The status that ended the request, if one did."""

    def feed(self, msg: Msg) -> None:
        """Take a message received on the pull inbox; raises when the request failed."""
        status = msg.status
        if status is None:
            self.msgs.append(msg)
            if len(self.msgs) >= self.batch:
                self.done = True
            return
        if status == 100 or msg.subject != self.reply:
            return  # a heartbeat, or the end of an earlier request
        self.done = True
        self.status = status
        if status in (404, 408):
            return
        description = msg.description
        if status == 409:
            if "Consumer Deleted" in description:
                raise ConsumerDeletedError(f"the consumer was deleted: {description}")
            if "Exceeded MaxRequest" in description or "push based" in description:
                raise BadRequestError(description, code=409)
            return  # max bytes reached, max waiting, leadership change, shutdown...
        if status == 503 and not self.msgs:
            raise ServiceUnavailableError(
                "no responders for the pull request: JetStream or the consumer is unavailable",
                code=503,
            )


class PullSubscription(ConsumerSubscription):
    """A pull consumer bound to an inbox: :meth:`fetch` batches, or iterate :meth:`messages`."""

    def __init__(
        self, js: JetStream, sub: Subscription, inbox: str, stream: str, consumer: str
    ) -> None:
        super().__init__(js, sub, stream, consumer)
        self._inbox = inbox
        self._next_subject = f"{js.prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._requests = 0
        self._no_wait_bodies: dict[tuple[int, int | None], bytes] = {}
        """Encoded ``no_wait`` pull requests by (batch, max_bytes): the same few every time."""
        self.delivered = 0
        """Messages handed to the application."""

    async def _queued(self, batch: int) -> list[Msg]:
        """Data messages already received (from earlier requests), up to ``batch``."""
        msgs: list[Msg] = []
        while self._sub.pending_msgs and len(msgs) < batch:
            msg = await self._sub.next_msg(None)
            if msg.status is None:
                msgs.append(msg)
        return msgs

    async def fetch(
        self,
        batch: int = 1,
        timeout: float | None = 5,
        heartbeat: float | None = None,
        *,
        no_wait: bool = False,
        max_bytes: int | None = None,
    ) -> list[JsMsg]:
        """Up to ``batch`` messages: those available at once, else what comes in ``timeout``.

        First asks for what the consumer has now (``no_wait``: answered at once). When
        that is nothing, asks again and waits up to ``timeout`` s for the batch to fill
        (the request ends early with ``max_bytes`` reached, or two missed ``heartbeat``).
        Raises :class:`FetchTimeoutError` (a :class:`NatsTimeoutError`) when nothing came;
        with ``no_wait`` it never waits.
        """
        nc = self._nc
        return [
            JsMsg.of(nc, msg)
            for msg in await self._fetch(batch, timeout, heartbeat, no_wait, max_bytes)
        ]

    async def _fetch(
        self,
        batch: int,
        timeout: float | None,
        heartbeat: float | None,
        no_wait: bool,
        max_bytes: int | None,
    ) -> list[Msg]:
        """:meth:`fetch`, the messages as received (the facade wraps them its own way)."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        msgs = await self._queued(batch) if self._sub.pending_msgs else []
        deadline = None
        if len(msgs) < batch:
            # First ask only for what is available now: answered at once.
            wanted = batch - len(msgs)
            key = (wanted, max_bytes)
            body = self._no_wait_bodies.get(key)
            if body is None:
                request = pull_request(wanted, None, no_wait=True, max_bytes=max_bytes)
                body = self._no_wait_bodies[key] = json.dumps(request).encode()
            now, deadline = await self._request(body, wanted, timeout, None)
            msgs += now
        if not msgs and not no_wait:
            # Nothing yet: wait on the server for up to the time left.
            left = None if deadline is None else deadline - anyio.current_time()
            if left is None or left > 0:
                request = pull_request(batch, left, max_bytes=max_bytes, heartbeat=heartbeat)
                msgs, _ = await self._request(json.dumps(request).encode(), batch, left, heartbeat)
        if not msgs:
            raise FetchTimeoutError(
                f"no message from consumer {self._consumer!r} within {timeout} s"
            )
        self.delivered += len(msgs)
        return msgs

    async def _request(
        self, body: bytes, batch: int, timeout: float | None, heartbeat: float | None
    ) -> tuple[list[Msg], float | None]:
        """Send one pull request and collect what it delivers until it ends, within
        ``timeout``; return the messages and the deadline it had (``None``: none).
        """
        self._requests += 1
        state = FetchState(batch, f"{self._inbox}.{self._requests:x}")
        await self._nc.publish(self._next_subject, body, reply=state.reply)
        watch = heartbeat * 2 if heartbeat else None
        next_msg = self._sub.next_msg
        with anyio.move_on_after(timeout) as scope:
            while not state.done:
                try:
                    state.feed(await next_msg(watch))
                except NatsTimeoutError:
                    break  # two heartbeats missed: the request is lost
        return state.msgs, None if timeout is None else scope.deadline

    def messages(self, batch: int = 100, timeout: float = 5.0) -> AsyncIterator[JsMsg]:
        """Every message, fetched ``batch`` at a time, for ``async for``."""
        return _Messages(self, batch, timeout)

    async def unsubscribe(self) -> None:
        await self._sub.unsubscribe()


class _Messages:
    def __init__(self, sub: PullSubscription, batch: int, timeout: float) -> None:
        self._sub = sub
        self._batch = batch
        self._timeout = timeout
        self._ready: list[JsMsg] = []

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> JsMsg:
        while not self._ready:
            try:
                self._ready = await self._sub.fetch(self._batch, self._timeout)
            except FetchTimeoutError:
                continue
            self._ready.reverse()
        return self._ready.pop()


async def pull_subscribe(
    js: JetStream,
    subject: str,
    durable: str | None = None,
    stream: str | None = None,
    config: api.ConsumerConfig | None = None,
    pending_msgs_limit: int = DEFAULT_PENDING_MSGS,
    pending_bytes_limit: int = DEFAULT_PENDING_BYTES,
    inbox_prefix: str | bytes | None = None,
) -> PullSubscription:
    """Create (or bind to) a pull consumer; :meth:`PullSubscription.fetch` from it.

    :meth:`JetStream.pull_subscribe` (nats-py's signature): binds to the durable if it
    exists, else creates one.
    """
    if stream is None:
        stream = await js.find_stream_name_by_subject(subject)
    consumer = durable or (config.durable_name or config.name if config else None)
    info: api.ConsumerInfo | None = None
    if consumer:
        try:
            info = await js.consumer_info(stream, consumer)
        except NotFoundError:
            info = None
    if info is not None and info.config.deliver_subject:
        raise JetStreamError(f"consumer {consumer!r} is a push consumer: use subscribe()")
    if info is None:
        config = (config or api.ConsumerConfig()).evolve()
        if not config.durable_name and not config.name:
            config.durable_name = durable
        if not config.filter_subjects and not config.filter_subject:
            config.filter_subject = subject
        info = await js.add_consumer(stream, config)
    return await bind_pull(
        js, stream, info.name, inbox_prefix, pending_msgs_limit, pending_bytes_limit
    )


async def bind_pull(
    js: JetStream,
    stream: str,
    consumer: str,
    inbox_prefix: str | bytes | None,
    pending_msgs_limit: int,
    pending_bytes_limit: int,
) -> PullSubscription:
    """A pull subscription on an existing consumer (no lookup, no creation)."""
    if isinstance(inbox_prefix, bytes):  # nats-py's default is b"_INBOX."
        inbox_prefix = inbox_prefix.decode()
    prefix = inbox_prefix.rstrip(".") if inbox_prefix else None
    inbox = f"{prefix}.{secrets.token_hex(11)}" if prefix else js.client.new_inbox()
    sub = await js.client.subscribe(
        f"{inbox}.*",
        pending_msgs_limit=pending_msgs_limit,
        pending_bytes_limit=pending_bytes_limit,
    )
    return PullSubscription(js, sub, inbox, stream, consumer)
