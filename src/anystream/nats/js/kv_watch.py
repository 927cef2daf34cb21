"""Watchers: updates from an ordered consumer, converted as they are asked for.

Shared by the key-value store (:class:`~.kv.KeyWatcher`, entries) and the object store
(:class:`~.object_store.ObjectWatcher`, object infos). nats-py feeds an
``asyncio.Queue`` from a callback task; here :meth:`Watcher.updates` waits on the
consumer in the caller's task, so no task runs and no queue fills up on the watcher's
behalf.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from ..errors import NatsError, NatsTimeoutError, SubscriptionClosedError

if TYPE_CHECKING:
    from .context import JetStream
    from .msg import JsMsg
    from .push import PushSubscription

__all__ = ("Watcher",)

T = TypeVar("T")

_CONSUMER_DELETE_TIMEOUT = 2.0


class Watcher(Generic[T]):
    """Updates from an ordered consumer, converted one at a time as they are asked for.

    The first ``None`` marks the end of the values present when the watch began (sent
    at once if there were none); later results are live updates. Waiting happens in the
    caller's task: nothing runs in the background except the consumer's own upkeep.
    """

    def __init__(
        self,
        js: JetStream,
        sub: PushSubscription,
        convert: Callable[[JsMsg], T | None],
        *,
        initial_marker: bool = True,
    ) -> None:
        self._js = js
        self._sub = sub
        self._convert = convert
        self._init_done = not initial_marker
        self._marker_due = False
        self._stopped = False

    async def _start(self) -> None:
        """Send the marker at once when the consumer has nothing to deliver initially."""
        if self._init_done:
            return
        info = await self._sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        if not info.num_pending and not delivered:
            self._marker_due = True

    async def _next(self) -> T | None:
        if self._marker_due:
            self._marker_due = False
            self._init_done = True
            return None
        while True:
            try:
                msg = await self._sub.next_msg(timeout=None)
            except SubscriptionClosedError:
                if self._stopped:
                    raise SubscriptionClosedError("the watcher was stopped") from None
                raise  # the connection was closed
            update = self._convert(msg)
            initial_end = not self._init_done and msg.metadata.num_pending == 0
            if update is None:
                if initial_end:
                    self._init_done = True
                    return None
                continue
            if initial_end:
                self._marker_due = True
            return update

    async def updates(self, timeout: float | None = 5.0) -> T | None:
        """The next update: an entry, or ``None`` once the initial values are done.

        Raises :class:`~anystream.nats.NatsTimeoutError` (a ``TimeoutError``) when none
        comes within ``timeout`` seconds (``None``: wait for ever), and
        :class:`~anystream.nats.SubscriptionClosedError` once the watcher was stopped.
        """
        if self._stopped:
            raise SubscriptionClosedError("the watcher was stopped")
        with anyio.move_on_after(timeout):
            return await self._next()
        raise NatsTimeoutError(f"no update within {timeout} s")

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> T | None:
        if self._stopped:
            raise StopAsyncIteration
        try:
            return await self._next()
        except SubscriptionClosedError:
            raise StopAsyncIteration from None

    async def stop(self) -> None:
        """Stop watching: unsubscribe and delete the consumer; iteration ends."""
        if self._stopped:
            return
        self._stopped = True
        sub = self._sub
        await sub.unsubscribe()
        # The server would keep the consumer for its inactive_threshold (5 minutes):
        # remove it now (best effort: it goes away by itself anyway).
        with (
            anyio.move_on_after(_CONSUMER_DELETE_TIMEOUT, shield=True),
            contextlib.suppress(NatsError),
        ):
            await self._js.delete_consumer(sub.stream, sub.consumer)

    async def __aenter__(self) -> Watcher[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await self.stop()
