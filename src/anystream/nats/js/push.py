"""Push consumers: the server sends a consumer's messages to a deliver subject.

:class:`PushSubscription` wraps the core subscription on the deliver subject and carries
out what :class:`~.delivery.DeliveryState` decides for each message, where it sits in
the queue: hand it on as a :class:`~.msg.JsMsg`, answer a flow-control request (so it
is answered once the application has taken every message before it), or recreate an
ordered consumer after a gap or when heartbeats stop, inline in the consuming task.

With a callback, one background task (:func:`anystream.runtime.tasks.spawn`) iterates
the subscription and awaits the callback for each message, then acks it unless
``manual_ack`` (or the consumer has no acks).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from nats.js import api

from ...runtime.tasks import BackgroundTask, spawn
from ..errors import NatsError, NatsTimeoutError, SubscriptionClosedError
from ..subscription import Subscription
from ._subscription import ConsumerSubscription
from .delivery import Action, DeliveryState
from .errors import BadRequestError, JetStreamError, NotFoundError
from .msg import JsMsg
from .ordered import ordered_config

if TYPE_CHECKING:
    from .context import JetStream

__all__ = (
    "DEFAULT_PENDING_BYTES",
    "DEFAULT_PENDING_MSGS",
    "MsgHandler",
    "PushSubscription",
    "subscribe",
)

logger = logging.getLogger("anystream.nats.js")

DEFAULT_PENDING_MSGS = 512 * 1024
DEFAULT_PENDING_BYTES = 256 * 1024 * 1024

MsgHandler = Callable[[JsMsg], Awaitable[None]]

# The push subscription whose callback task is running (to stop it from inside).
_running: contextvars.ContextVar[PushSubscription | None] = contextvars.ContextVar(
    "anystream_js_push_callback", default=None
)


class PushSubscription(ConsumerSubscription):
    """Messages a push consumer delivers: ``async for msg in sub`` or ``next_msg()``."""

    def __init__(
        self,
        js: JetStream,
        sub: Subscription,
        stream: str,
        consumer: str,
        config: api.ConsumerConfig,
        *,
        ordered: bool = False,
    ) -> None:
        super().__init__(js, sub, stream, consumer)
        self._config = config
        self._state = DeliveryState(config, ordered=ordered)
        self._task: BackgroundTask | None = None
        self._closed = False
        self._delivered = 0

    @property
    def subject(self) -> str:
        """The deliver subject."""
        return self._sub.subject

    @property
    def delivered(self) -> int:
        """Messages handed to the application."""
        return self._delivered

    @property
    def resets(self) -> int:
        """How many times this ordered consumer was recreated."""
        ordered = self._state.ordered
        return 0 if ordered is None else ordered.resets

    # ----------------------------------------------------------------- receiving

    async def _next(self) -> JsMsg:
        state = self._state
        while True:
            if self._closed:
                raise SubscriptionClosedError(f"the subscription to {self._consumer!r} is closed")
            try:
                raw = await self._sub.next_msg(state.idle_timeout)
            except NatsTimeoutError:
                step = state.on_idle()
            else:
                step = state.on_message(raw)
            action = step.action
            if action is Action.DELIVER:
                msg = JsMsg.of(self._nc, raw)
                msg._metadata = step.metadata
                self._delivered += 1
                return msg
            if action is Action.REPLY:
                assert step.subject is not None
                await self._nc.publish(step.subject, b"")
            elif action is Action.RESTART:
                await self._restart(step.reason)

    async def _restart(self, why: str) -> None:
        """Recreate the ordered consumer on a new deliver subject; retry until it works."""
        logger.debug("ordered consumer %s on %s: %s, recreating", self._consumer, self._stream, why)
        old, replaced = self._sub, self._consumer
        inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            inbox,
            pending_msgs_limit=old.pending_msgs_limit,
            pending_bytes_limit=old.pending_bytes_limit,
        )
        await old.unsubscribe()
        await self._forget(replaced)
        config = self._state.restart_config(inbox)
        delay = 0.05
        while True:
            try:
                info = await self._js.add_consumer(self._stream, config)
            except NatsError as exc:
                if self._nc.is_closed or isinstance(exc, NotFoundError):
                    raise  # closed, or the stream is gone
                logger.debug("recreating ordered consumer failed (%r), retrying", exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._consumer = info.name
            return

    async def _forget(self, consumer: str) -> None:
        """Delete an ordered consumer, without waiting for the answer (if this does not
        get through, the server drops it after its inactive threshold anyway)."""
        with contextlib.suppress(NatsError):
            await self._nc.publish(f"{self._js.prefix}.CONSUMER.DELETE.{self._stream}.{consumer}")

    async def next_msg(self, timeout: float | None = 1.0) -> JsMsg:
        """The next message; :class:`NatsTimeoutError` if none within ``timeout`` s."""
        if self._task is not None:
            raise ValueError("next_msg() is not available on a subscription with a callback")
        if timeout is None:
            return await self._next()
        with anyio.move_on_after(timeout):
            return await self._next()
        raise NatsTimeoutError(f"no message from consumer {self._consumer!r} within {timeout} s")

    def __aiter__(self) -> PushSubscription:
        return self

    async def __anext__(self) -> JsMsg:
        try:
            return await self._next()
        except SubscriptionClosedError:
            raise StopAsyncIteration from None

    # ----------------------------------------------------------------- callbacks

    def _start_callback(self, cb: MsgHandler, auto_ack: bool) -> None:
        self._task = spawn(self._run_callback, cb, auto_ack, name=f"js push {self._consumer}")

    async def _run_callback(self, cb: MsgHandler, auto_ack: bool) -> None:
        _running.set(self)
        async for msg in self:
            try:
                await cb(msg)
            except Exception:
                logger.exception(
                    "callback of consumer %s failed; message not acked", self._consumer
                )
                continue
            if auto_ack and not msg.is_acked:
                try:
                    await msg.ack()
                except NatsError as exc:
                    logger.warning("auto-ack on consumer %s failed: %s", self._consumer, exc)

    # ----------------------------------------------------------------- stopping

    async def unsubscribe(self) -> None:
        """Stop receiving (queued messages are dropped; the callback task is stopped).

        An ordered consumer is deleted too: nobody else can use it.
        """
        self._closed = True
        await self._sub.unsubscribe()
        if self._state.ordered is not None:
            await self._forget(self._consumer)
        if self._task is not None:
            self._task.cancel()
            if _running.get() is not self:  # from the callback itself: it ends on return
                await self._task.wait()

    async def drain(self, timeout: float | None = None) -> None:
        """Stop receiving once the messages in flight were handled (by the callback).

        Called from the callback itself, it does not wait: the messages already received
        are still handed to the callback, then its task ends.
        """
        if _running.get() is self:
            await self._sub.unsubscribe()
            return
        await self._sub.drain(timeout)
        if self._state.ordered is not None:
            await self._forget(self._consumer)
        if self._task is not None:
            with anyio.move_on_after(timeout or 30.0) as scope:
                await self._task.wait()
            if scope.cancelled_caught:
                self._task.cancel()

    async def __aenter__(self) -> PushSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.unsubscribe()


#: JetStream API error: a consumer of that name exists with another configuration.
CONSUMER_NAME_IN_USE = 10013


async def subscribe(
    js: JetStream,
    subject: str,
    queue: str | None = None,
    cb: MsgHandler | None = None,
    durable: str | None = None,
    stream: str | None = None,
    config: api.ConsumerConfig | None = None,
    manual_ack: bool = False,
    ordered_consumer: bool = False,
    idle_heartbeat: float | None = None,
    flow_control: bool = False,
    pending_msgs_limit: int = DEFAULT_PENDING_MSGS,
    pending_bytes_limit: int = DEFAULT_PENDING_BYTES,
    deliver_policy: api.DeliverPolicy | None = None,
    headers_only: bool | None = None,
    inactive_threshold: float | None = None,
) -> PushSubscription:
    """Create (or bind to) a push consumer and subscribe to what it delivers.

    :meth:`JetStream.subscribe` (nats-py's signature): binds to the durable if it
    exists, else creates one; ``cb`` gets each message in a task of its own.
    """
    if stream is None:
        stream = await js.find_stream_name_by_subject(subject)
    if queue:
        if durable and durable != queue:
            raise ValueError(f"cannot create queue subscription {queue!r} to consumer {durable!r}")
        durable = queue
    if ordered_consumer and (durable or queue):
        raise ValueError("an ordered consumer is ephemeral: no durable name or queue")
    info: api.ConsumerInfo | None = None
    name = durable or (config.durable_name if config and not ordered_consumer else None)
    if name:
        try:
            info = await js.consumer_info(stream, name)
        except NotFoundError:
            info = None
    if info is not None:
        config = info.config
        check_bindable(info, queue)
    else:
        config = new_push_config(
            config,
            subject,
            deliver_subject=js.client.new_inbox(),
            durable=durable,
            queue=queue,
            deliver_policy=deliver_policy,
            headers_only=headers_only,
            inactive_threshold=inactive_threshold,
            flow_control=flow_control,
            idle_heartbeat=idle_heartbeat,
        )
        if ordered_consumer:
            config = ordered_config(config, idle_heartbeat)
    sub = await _listen(js, config, pending_msgs_limit, pending_bytes_limit)
    try:
        if info is None:
            info = await js.add_consumer(stream, config)
    except BadRequestError as exc:
        await sub.unsubscribe()
        if not (durable and queue and exc.err_code == CONSUMER_NAME_IN_USE):
            raise
        # Another member of the deliver group created the consumer (with its own deliver
        # subject) between our lookup and our create: several workers starting at once.
        # Join it, as if it had been there at the lookup.
        info = await js.consumer_info(stream, durable)
        check_bindable(info, queue)
        config = info.config
        sub = await _listen(js, config, pending_msgs_limit, pending_bytes_limit)
    except BaseException:
        await sub.unsubscribe()
        raise
    psub = PushSubscription(js, sub, stream, info.name, config, ordered=ordered_consumer)
    if cb is not None:
        acks = config.ack_policy not in (api.AckPolicy.NONE, "none")
        psub._start_callback(cb, auto_ack=acks and not manual_ack)
    return psub


async def _listen(
    js: JetStream, config: api.ConsumerConfig, pending_msgs_limit: int, pending_bytes_limit: int
) -> Subscription:
    """The core subscription to what the consumer of ``config`` delivers."""
    assert config.deliver_subject is not None
    return await js.client.subscribe(
        config.deliver_subject,
        queue=config.deliver_group or None,
        pending_msgs_limit=pending_msgs_limit,
        pending_bytes_limit=pending_bytes_limit,
    )


def check_bindable(info: api.ConsumerInfo, queue: str | None) -> None:
    """Refuse to bind to a consumer this subscription cannot use (pure)."""
    config = info.config
    if not config.deliver_subject:
        raise JetStreamError(f"consumer {info.name!r} is a pull consumer: use pull_subscribe()")
    group = config.deliver_group
    if not group:
        if queue:
            raise JetStreamError(
                f"consumer {info.name!r} has no deliver group: cannot join queue {queue!r}"
            )
        if info.push_bound:
            raise JetStreamError(f"consumer {info.name!r} is already bound to a subscription")
    elif queue != group:
        raise JetStreamError(
            f"consumer {info.name!r} delivers to group {group!r}, not to queue {queue!r}"
        )


def new_push_config(
    config: api.ConsumerConfig | None,
    subject: str,
    *,
    deliver_subject: str,
    durable: str | None,
    queue: str | None,
    deliver_policy: api.DeliverPolicy | None,
    headers_only: bool | None,
    inactive_threshold: float | None,
    flow_control: bool,
    idle_heartbeat: float | None,
) -> api.ConsumerConfig:
    """The config of a push consumer :meth:`JetStream.subscribe` creates (pure)."""
    config = (config or api.ConsumerConfig()).evolve()
    config.durable_name = config.durable_name or durable
    config.deliver_group = config.deliver_group or queue
    config.headers_only = config.headers_only or headers_only
    if deliver_policy:
        config.deliver_policy = deliver_policy
    if inactive_threshold:
        config.inactive_threshold = inactive_threshold
    config.deliver_subject = config.deliver_subject or deliver_subject
    if not config.filter_subjects:
        config.filter_subject = subject
    config.flow_control = flow_control or config.flow_control or None
    if idle_heartbeat:
        config.idle_heartbeat = idle_heartbeat
    return config
