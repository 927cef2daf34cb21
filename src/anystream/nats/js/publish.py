"""Publishing to streams with pipelined acks (:meth:`JetStream.publish_async`).

Each async publish gets a reply subject ``<prefix>.<token>`` under one wildcard
subscription; the ack that comes back completes the :class:`PubAckFuture` with that
token (one background task, :func:`anystream.runtime.tasks.spawn`, reads the acks; when
the connection closes it fails the futures still waiting). At most ``max_pending`` acks
are outstanding at once (publishers wait for room).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import anyio

from nats.js import api

from ...runtime.tasks import spawn
from ..errors import ConnectionClosedError, NatsTimeoutError
from ..subscription import Msg, Subscription
from .errors import JetStreamError, NoStreamResponseError, TooManyStalledMsgsError, api_error

if TYPE_CHECKING:
    from ..client import Client

__all__ = ("AsyncPublisher", "PubAckFuture", "pub_headers")

DEFAULT_MAX_PENDING = 4000


def pub_headers(
    headers: dict[str, str] | None, stream: str | None, msg_ttl: float | None = None
) -> dict[str, str] | None:
    """The headers of a JetStream publish: ``stream`` becomes ``Nats-Expected-Stream``,
    ``msg_ttl`` (seconds) ``Nats-TTL`` (the caller's dict is not changed)."""
    if stream is None and msg_ttl is None:
        return headers
    extra = dict(headers or {})
    if stream is not None:
        extra[api.Header.EXPECTED_STREAM.value] = stream
    if msg_ttl is not None:
        extra[api.Header.MSG_TTL.value] = str(int(msg_ttl))
    return extra


def pub_ack_result(msg: Msg, subject: str) -> api.PubAck | JetStreamError:
    """The ack (or the error) a stream answered to a publish (pure)."""
    if msg.status == 503:
        return NoStreamResponseError(subject)
    resp: dict[str, Any] = json.loads(msg.data)
    if "error" in resp:
        return api_error(resp["error"])
    ack: api.PubAck = api.PubAck.from_response(resp)
    return ack


class PubAckFuture:
    """The outcome of one :meth:`JetStream.publish_async`: ``await`` it for the PubAck."""

    __slots__ = ("_done", "_error", "_result", "subject")

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._done = anyio.Event()
        self._result: api.PubAck | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._done.is_set()

    def _set(self, outcome: api.PubAck | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self._error = outcome
        else:
            self._result = outcome
        self._done.set()

    async def result(self, timeout: float | None = None) -> api.PubAck:
        """The PubAck; raises the stream's error, or :class:`NatsTimeoutError`."""
        with anyio.move_on_after(timeout):
            await self._done.wait()
        if not self._done.is_set():
            raise NatsTimeoutError(f"no ack for the publish to {self.subject!r} in {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def __await__(self) -> Generator[Any, None, api.PubAck]:
        return self.result().__await__()


class AsyncPublisher:
    """Outstanding async publishes of one :class:`JetStream` context."""

    def __init__(self, client: Client, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._nc = client
        self._prefix = client.new_inbox()
        self._sub: Subscription | None = None
        self._futures: dict[str, PubAckFuture] = {}
        self._next = 0
        self._max_pending = max_pending
        self._room: anyio.Event | None = None
        self._idle = anyio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        return len(self._futures)

    async def _collect(self, sub: Subscription) -> None:
        """Complete the futures as acks arrive; fail the rest once the connection closed."""
        try:
            async for msg in sub:
                future = self._futures.pop(msg.subject[len(self._prefix) + 1 :], None)
                if future is not None:
                    future._set(pub_ack_result(msg, future.subject))
                    self._released()
        finally:
            futures, self._futures = self._futures, {}
            for future in futures.values():
                future._set(ConnectionClosedError("the connection closed before the ack came"))
            self._released()

    def _released(self) -> None:
        room = self._room
        if room is not None and len(self._futures) < self._max_pending:
            self._room = None
            room.set()
        if not self._futures:
            self._idle.set()

    async def publish(
        self,
        subject: str,
        payload: bytes,
        *,
        headers: dict[str, str] | None,
        wait_stall: float | None,
    ) -> PubAckFuture:
        if self._sub is None:
            self._sub = await self._nc.subscribe(f"{self._prefix}.*")
            spawn(self._collect, self._sub, name="js publish_async acks")
        if len(self._futures) >= self._max_pending:
            # Only when the window is full: no checkpoint per publish otherwise, so a
            # burst of publishes is written in large chunks.
            with anyio.move_on_after(wait_stall):
                while len(self._futures) >= self._max_pending:
                    room = self._room = self._room or anyio.Event()
                    await room.wait()
            if len(self._futures) >= self._max_pending:
                raise TooManyStalledMsgsError(
                    f"{len(self._futures)} async publishes still wait for their ack after "
                    f"{wait_stall} s"
                )
        self._next += 1
        token = f"{self._next:x}"
        future = self._futures[token] = PubAckFuture(subject)
        if self._idle.is_set():
            self._idle = anyio.Event()
        try:
            reply = f"{self._prefix}.{token}"
            await self._nc.publish(subject, payload, reply=reply, headers=headers)
        except BaseException:
            self._futures.pop(token, None)
            self._released()
            raise
        return future

    async def completed(self, timeout: float | None = None) -> None:
        with anyio.move_on_after(timeout):
            await self._idle.wait()
            return
        raise NatsTimeoutError(f"{len(self._futures)} async publishes still wait for their ack")
