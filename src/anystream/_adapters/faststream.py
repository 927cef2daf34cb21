"""faststream's asyncio-only internals on the NATS broker's path, rewritten on anyio.

faststream runs on anyio almost everywhere, so its NATS broker runs on trio once its client
does (``anystream.nats.NatsBroker``), except for five places that are asyncio-only; each
failed when ``faststream.nats`` was run on trio. Each is rewritten here on anyio, behaving
as before on asyncio, and written so it could be proposed upstream as it is (each docstring
names the upstream code it replaces and why). One deliberate difference on both backends:
``TasksMixin.stop`` waits (bounded) for the tasks it cancels to end.

====================================================  ====================================
faststream (0.7.8)                                     on trio, before
====================================================  ====================================
``TasksMixin.add_task`` / ``stop``                     ``asyncio.create_task``: no running
(``_internal/endpoint/subscriber/mixins.py``)          event loop (pull, batch, KV/OS watch,
                                                       ``max_workers > 1`` subscribers)
``MultiLock`` (``.../subscriber/utils.py``)            ``asyncio.Queue.join()``: graceful stop
                                                       with a handler in flight crashed
``_AcknowledgementMiddleware.__aexit__``               ``isinstance(exc, asyncio.CancelledError)``:
(``middlewares/acknowledgement/middleware.py``)        a cancelled handler was NAKed/TERMed
``HandlerCallWrapper.trigger`` / ``refresh``           ``asyncio.Future``: ``TestNatsBroker``
(``_internal/endpoint/call_wrapper.py``)               raised ``SetupError``
``NatsJSFastProducer.request``                         ``asyncio.Future``: JetStream
(``nats/publisher/producer.py``)                       ``broker.request(..., stream=...)``
====================================================  ====================================

Three more patches cut faststream's avoidable per-message costs, changing nothing a user
sees (docs/performance.md gives each one's measured effect):

====================================================  ====================================
faststream (0.7.8)                                     per message, before
====================================================  ====================================
``set_logger_fmt`` (``_internal/logger/logging.py``)   ``strftime`` per log line, the stream
                                                       flushed (a ``write`` call) per line
``RealLoggerObject.log``                               a ``LogRecord`` per line, also when
(``_internal/logger/logger_proxy.py``)                 only faststream's handler reads it
``LogicSubscriber.subject``                            a new ``Address`` (a per-character
(``nats/subscriber/usecases/basic.py``)                scan of the subject) per log context
``StreamMessage.__init__``                             ``str(uuid.uuid4())`` correlation id
(``message/message.py``)                               through a ``UUID`` object
``ConcurrentMixin`` (``max_workers``)                  a task and a semaphore round per
(``_internal/endpoint/subscriber/mixins.py``)          message
``CriticalLogMiddleware.__call__``                     a logging middleware object per
(``middlewares/logging.py``)                           message, also with ``logger=None``
====================================================  ====================================

:func:`install` patches faststream's classes in place (idempotent). Before it patches
anything it checks every :data:`ASSUMPTIONS` entry (the class and attribute are where they
were, the signatures callers use, the code replaced is still the asyncio-bound code this
module was written against) and raises :class:`FaststreamAdapterError` naming each broken
one: a faststream release that moves them makes it refuse, never degrade silently. The
contract tests in ``tests/adapters/`` check the same assumptions one by one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine, Generator, Iterable
from contextlib import suppress
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.lowlevel

from anystream.exceptions import FaststreamAdapterError
from anystream.runtime.tasks import BackgroundTask, spawn

from ._contract import (
    Assumption,
    Broken,
    Patch,
    PatchSet,
    all_of,
    defines,
    has_slot,
    lookup,
    original,
    signature,
    slots,
    unchanged,
    uses,
)

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "TASK_STOP_TIMEOUT",
    "Assumption",
    "CallFuture",
    "SupervisedTask",
    "install",
    "is_installed",
    "uninstall",
)

logger = logging.getLogger("anystream")

_MIXINS = "faststream._internal.endpoint.subscriber.mixins"
_SUPERVISOR = "faststream._internal.endpoint.subscriber.supervisor"
_LOCK = "faststream._internal.endpoint.subscriber.utils:MultiLock"
_USECASE = "faststream._internal.endpoint.subscriber.usecase:SubscriberUsecase"
_ACK = "faststream.middlewares.acknowledgement.middleware:_AcknowledgementMiddleware"
_CALL_WRAPPER = "faststream._internal.endpoint.call_wrapper:HandlerCallWrapper"
_JS_PRODUCER = "faststream.nats.publisher.producer:NatsJSFastProducer"
_TASKS_MIXIN = f"{_MIXINS}:TasksMixin"
_TASK_SUPERVISOR = f"{_SUPERVISOR}:TaskCallbackSupervisor"
_CONCURRENT = f"{_MIXINS}:ConcurrentMixin"
_CRITICAL_LOG = "faststream.middlewares.logging:CriticalLogMiddleware"
_LOGGING_MIDDLEWARE = "faststream.middlewares.logging:_LoggingMiddleware"
_LOGGING = "faststream._internal.logger.logging:"
_REAL_LOGGER = "faststream._internal.logger.logger_proxy:RealLoggerObject"
_FORMATTER = "faststream._internal.logger.formatter:ColourizedFormatter"
_NATS_SUBSCRIBER = "faststream.nats.subscriber.usecases.basic:LogicSubscriber"
_MESSAGE_MODULE = "faststream.message.message:"
_MESSAGE = "faststream.message.message:StreamMessage"


# --------------------------------------------------------------------------------------
# 1. TasksMixin.add_task / stop: tasks on anyio (anystream.runtime.tasks.spawn)
# --------------------------------------------------------------------------------------

#: How long ``stop()`` waits for the tasks it cancelled to end (they end at their next
#: checkpoint; the bound only guards against one stuck in a shielded section).
TASK_STOP_TIMEOUT = 5.0

# The SupervisedTasks the current task runs inside (context variables reach child tasks):
# ``stop()`` called from a consume loop must not wait for that loop to end.
_running_in: ContextVar[frozenset[SupervisedTask]] = ContextVar(
    "anystream_faststream_tasks", default=frozenset()
)


class SupervisedTask:
    """A task started by ``TasksMixin.add_task``, with the part of ``asyncio.Task``'s API
    faststream uses on it: ``done()`` and ``cancel()`` (``TasksMixin.stop``), ``get_name()``,
    ``cancelled()`` and ``exception()`` (``TaskCallbackSupervisor``); and :meth:`wait`.
    """

    __slots__ = ("_background", "_cancelled", "_done", "_exception", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._background: BackgroundTask | None = None
        self._cancelled = False
        self._done = False
        self._exception: BaseException | None = None

    def get_name(self) -> str:
        return self._name

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        """Whether the task ended by being cancelled."""
        return self._cancelled

    def exception(self) -> BaseException | None:
        """The exception the task ended with (``None``: it returned or was cancelled)."""
        return self._exception

    def cancel(self) -> bool:
        """Request cancellation; ``False`` if the task has already ended."""
        if self._done or self._background is None:
            return False
        self._background.cancel()
        return True

    async def wait(self) -> None:
        """Return once the task has ended, however it ended."""
        if self._background is not None:
            await self._background.wait()

    def __repr__(self) -> str:
        state = "done" if self._done else "running"
        return f"<SupervisedTask {self._name} {state}>"


async def _supervise(
    task: SupervisedTask,
    func: Callable[..., Coroutine[Any, Any, Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_done: Callable[[SupervisedTask], None],
) -> None:
    """Run ``func`` as ``task``; then call ``on_done(task)``, as asyncio runs a done callback."""
    token = _running_in.set(_running_in.get() | {task})
    try:
        await func(*args, **kwargs)
    except anyio.get_cancelled_exc_class():
        task._cancelled = True
        raise
    except Exception as exc:
        task._exception = exc
    finally:
        _running_in.reset(token)
        task._done = True
        try:
            on_done(task)
        except Exception:
            logger.exception("done callback of %s failed", task.get_name())


def add_task(
    self: Any,
    func: Callable[..., Coroutine[Any, Any, Any]],
    func_args: tuple[Any, ...] | None = None,
    func_kwargs: dict[str, Any] | None = None,
    *,
    restart_on_failure: bool = True,
) -> SupervisedTask:
    """Start ``func(*func_args, **func_kwargs)`` as a background task of this subscriber.

    Replaces upstream's ``asyncio.create_task(...)`` + ``task.add_done_callback(
    TaskCallbackSupervisor(...))``, which needs an asyncio loop: on trio every pull, batch,
    KV/OS-watch and ``max_workers > 1`` subscriber failed to start. The task is started on
    anyio by :func:`anystream.runtime.tasks.spawn` (owned by the hosting task group, else a
    backend task) and the same supervisor runs when it ends, seeing a :class:`SupervisedTask`
    (the ``asyncio.Task`` API it reads): a failure is logged once and restarted, a
    cancellation is not. (Proposed upstream, the line that starts the task needs a home
    for it as :func:`~anystream.runtime.tasks.spawn` gives one here: a task group owned by
    whoever runs the broker; the rest stays as it is.)
    """
    from faststream._internal.endpoint.subscriber.supervisor import TaskCallbackSupervisor

    supervisor = TaskCallbackSupervisor(
        func,
        func_args,  # type: ignore[arg-type]  # upstream annotates a 1-tuple
        func_kwargs,
        self,
        restart_on_failure=restart_on_failure,
    )
    task = SupervisedTask(getattr(func, "__qualname__", repr(func)))
    task._background = spawn(
        _supervise,
        task,
        func,
        func_args or (),
        func_kwargs or {},
        supervisor,
        name=task.get_name(),
    )
    self.tasks.append(task)
    return task


async def _wait_ended(tasks: Iterable[Any]) -> None:
    """Wait (shielded, bounded) for cancelled tasks to end, except those we run inside."""
    inside = _running_in.get()
    pending = [
        task
        for task in tasks
        if isinstance(task, SupervisedTask) and task not in inside and not task.done()
    ]
    if not pending:
        return
    with anyio.move_on_after(TASK_STOP_TIMEOUT, shield=True) as scope:
        for task in pending:
            await task.wait()
    if scope.cancelled_caught:
        logger.warning(
            "subscriber tasks still running %.1f s after being cancelled: %s",
            TASK_STOP_TIMEOUT,
            ", ".join(task.get_name() for task in pending if not task.done()),
        )


async def tasks_mixin_stop(self: Any) -> None:
    """Stop consuming, cancel this subscriber's tasks and wait for them to end.

    Replaces upstream's ``TasksMixin.stop``, which cancelled its ``asyncio.Task`` s and
    returned while they were still running. On anyio the tasks are cancelled the same way
    and then waited for (shielded, at most :data:`TASK_STOP_TIMEOUT`), so once ``stop()``
    returns no consume loop of this subscriber runs: structured, and the same on asyncio
    and trio. ``stop()`` called from inside one of the tasks (a handler raising
    ``StopConsume``) does not wait for that task.
    """
    from faststream._internal.endpoint.subscriber.mixins import TasksMixin

    await super(TasksMixin, self).stop()

    tasks = list(self.tasks)
    for task in tasks:
        if not task.done():
            task.cancel()
    self.tasks.clear()
    await _wait_ended(tasks)


# --------------------------------------------------------------------------------------
# 2. MultiLock: count in-flight messages, wait for none on anyio
# --------------------------------------------------------------------------------------


class _InFlight:
    """What ``MultiLock`` keeps (in its ``queue`` slot): in-flight count, a release event."""

    __slots__ = ("count", "released")

    def __init__(self) -> None:
        self.count = 0
        self.released: anyio.Event | None = None


def multilock_init(self: Any) -> None:
    """Replaces upstream's ``self.queue = asyncio.Queue()``.

    ``MultiLock`` counts the messages being processed (``acquire``/``release``, one per
    message) and ``wait_release`` waits until none is (graceful stop). Upstream counts with
    an ``asyncio.Queue`` and waits with ``queue.join()``, which needs an asyncio loop: on
    trio a stop with a handler in flight raised ``AttributeError`` instead of waiting. A
    counter and an ``anyio.Event`` do the same on any backend.
    """
    self.queue = _InFlight()


def multilock_acquire(self: Any) -> None:
    """Count one more message in flight (upstream: ``queue.put_nowait(None)``)."""
    self.queue.count += 1


def multilock_release(self: Any) -> None:
    """Count one message done; a release with none in flight is ignored, as upstream's."""
    state: _InFlight = self.queue
    if state.count:
        state.count -= 1
        if not state.count and state.released is not None:
            state.released.set()
            state.released = None


def multilock_qsize(self: Any) -> int:
    """The number of messages in flight."""
    return int(self.queue.count)


def multilock_empty(self: Any) -> bool:
    """Whether no message is in flight."""
    return not self.queue.count


async def multilock_wait_release(self: Any, timeout: float | None = None) -> None:
    """Wait up to ``timeout`` seconds until no message is in flight (graceful shutdown).

    Upstream's ``queue.join()`` on anyio. As upstream, no ``timeout`` means no wait.
    """
    if timeout:
        state: _InFlight = self.queue
        with anyio.move_on_after(timeout):
            while state.count:
                if state.released is None:
                    state.released = anyio.Event()
                await state.released.wait()


# --------------------------------------------------------------------------------------
# 3. The acknowledgement middleware: a cancelled handler is cancelled on every backend
# --------------------------------------------------------------------------------------


async def ack_middleware_aexit(
    self: Any,
    exc_type: type[BaseException] | None = None,
    exc_val: BaseException | None = None,
    exc_tb: Any = None,
) -> bool | None:
    """Upstream's ``_AcknowledgementMiddleware.__aexit__`` with one line changed.

    Upstream tells a cancelled handler from a failed one with ``isinstance(exc_val,
    asyncio.CancelledError)``; on trio the cancellation is ``trio.Cancelled``, which fell
    through to the ``REJECT_ON_ERROR``/``NACK_ON_ERROR`` branches: a JetStream message whose
    handler was cancelled (shutdown) was TERMed or NAKed as if the handler had failed. Here
    the check is ``anyio.get_cancelled_exc_class()`` (``asyncio.CancelledError`` on asyncio,
    so nothing changes there): a cancelled handler's message is left to redelivery.
    """
    from faststream.exceptions import AckMessage, HandlerException, NackMessage, RejectMessage
    from faststream.middlewares.acknowledgement.config import AckPolicy

    if self.ack_policy is AckPolicy.ACK_FIRST:
        if self.message is None:
            await self._AcknowledgementMiddleware__ack()
        return False

    if not exc_type:
        await self._AcknowledgementMiddleware__ack()

    elif isinstance(exc_val, HandlerException):
        if isinstance(exc_val, AckMessage):
            await self._AcknowledgementMiddleware__ack(**exc_val.extra_options)

        elif isinstance(exc_val, NackMessage):
            await self._AcknowledgementMiddleware__nack(**exc_val.extra_options)

        elif isinstance(exc_val, RejectMessage):  # pragma: no branch
            await self._AcknowledgementMiddleware__reject(**exc_val.extra_options)

        # Exception was processed and suppressed
        return True

    elif isinstance(exc_val, anyio.get_cancelled_exc_class()):
        return False

    elif self.ack_policy is AckPolicy.REJECT_ON_ERROR:
        await self._AcknowledgementMiddleware__reject()

    elif self.ack_policy is AckPolicy.NACK_ON_ERROR:
        await self._AcknowledgementMiddleware__nack()

    elif self.ack_policy is AckPolicy.ACK:
        await self._AcknowledgementMiddleware__ack()

    # Exception was not processed
    return False


# --------------------------------------------------------------------------------------
# 4. HandlerCallWrapper: the test client's call future on anyio
# --------------------------------------------------------------------------------------


class CallFuture:
    """The outcome of a handler's call under a test broker, awaitable on any anyio backend.

    The part of ``asyncio.Future``'s API ``HandlerCallWrapper`` uses: ``done()``,
    ``set_result()``, ``set_exception()``, ``exception()``, ``result()`` and ``await``.
    Must be created inside a running event loop (as ``asyncio.Future()`` must).
    """

    __slots__ = ("_event", "_exception", "_result")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._result: Any = None
        self._exception: BaseException | None = None

    def done(self) -> bool:
        return self._event.is_set()

    def _settle(self) -> None:
        if self._event.is_set():
            raise RuntimeError("the call's outcome is already set")
        self._event.set()

    def set_result(self, result: Any) -> None:
        self._result = result
        self._settle()

    def set_exception(self, exception: BaseException) -> None:
        self._exception = exception
        self._settle()

    def exception(self) -> BaseException | None:
        if not self.done():
            raise RuntimeError("the call's outcome is not set yet")
        return self._exception

    def result(self) -> Any:
        if self.exception() is not None:
            raise self._exception  # type: ignore[misc]
        return self._result

    async def _wait(self) -> Any:
        await self._event.wait()
        return self.result()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()


def _in_event_loop() -> bool:
    """Whether this runs in a task of an anyio-supported event loop.

    Upstream asks ``asyncio.events._get_running_loop()``; that is also true in a plain loop
    callback, which faststream never calls ``refresh`` from (it does from ``start()`` and
    the test client's ``__aenter__``, both in tasks).
    """
    try:
        anyio.get_current_task()
    except RuntimeError:  # anyio.NoEventLoopError, sniffio.AsyncLibraryNotFoundError
        return False
    return True


def call_wrapper_trigger(
    self: Any,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """Upstream's ``HandlerCallWrapper.trigger`` with a :class:`CallFuture`.

    Upstream makes a new ``asyncio.Future()`` once the last one is done; this makes a
    :class:`CallFuture`, which works on trio as well (see :func:`call_wrapper_refresh`).
    """
    from faststream.exceptions import SetupError

    if not self.is_test:
        return

    if self.future is None:
        msg = "You can use this method only with TestClient"
        raise SetupError(msg)

    if self.future.done():
        self.future = CallFuture()

    if error:
        self.future.set_exception(error)
    else:
        self.future.set_result(result)


def call_wrapper_refresh(self: Any, with_mock: bool = False) -> None:
    """Upstream's ``HandlerCallWrapper.refresh`` with a :class:`CallFuture`.

    Upstream makes an ``asyncio.Future()`` only when ``asyncio.events._get_running_loop()``
    finds a loop, so on trio the handler had no future and the first message under
    ``TestNatsBroker`` raised ``SetupError: You can use this method only with TestClient``.
    The check here is anyio's (any backend) and the future a :class:`CallFuture`.
    """
    if _in_event_loop():
        self.future = CallFuture()

    if with_mock:
        self._recorder.reset()


# --------------------------------------------------------------------------------------
# 5. NatsJSFastProducer.request: the reply read from its inbox subscription
# --------------------------------------------------------------------------------------


async def js_producer_request(self: Any, cmd: Any) -> Any:
    """Upstream's ``NatsJSFastProducer.request`` without an ``asyncio.Future``.

    Upstream subscribes the reply inbox with ``subscribe(inbox, future=asyncio.Future())``
    (nats-py sets the future's result from its reader) and awaits the future: asyncio-only,
    and an API of nats-py's client alone. Here the inbox is an ordinary one-message
    subscription read with ``next_msg()`` (the call faststream's core subscriber already
    makes), under the same ``anyio.fail_after(cmd.timeout)``; the rest is upstream's.
    """
    from nats.aio.client import NO_RESPONDERS_STATUS
    from nats.errors import (
        ConnectionClosedError,
        ConnectionDrainingError,
        NoRespondersError,
    )
    from nats.js.api import Header

    payload, content_type = await self.codec.encode(cmd.body, self.serializer)

    connection = self._NatsJSFastProducer__state.connection
    reply_to = connection._nc.new_inbox()
    sub = await connection._nc.subscribe(reply_to, max_msgs=1)
    try:
        await sub.unsubscribe(limit=1)

        headers_to_send = {
            "content-type": content_type or "",
            "reply_to": reply_to,
            **cmd.headers_to_publish(js=False),
        }

        with anyio.fail_after(cmd.timeout):
            await connection.publish(
                subject=cmd.destination,
                payload=payload,
                headers=headers_to_send,
                stream=cmd.stream,
                timeout=cmd.timeout,
            )

            # No timeout of its own: fail_after above bounds the wait
            msg = await sub.next_msg(timeout=None)

            if (  # pragma: no cover
                msg.headers and (msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS)
            ):
                raise NoRespondersError

            return msg
    finally:
        # The one-message limit cannot remove an inbox that never receives a reply.
        with (
            anyio.CancelScope(shield=True),
            suppress(
                ConnectionClosedError,
                ConnectionDrainingError,
            ),
        ):
            await sub.unsubscribe()


# --------------------------------------------------------------------------------------
# 6. The default access-log handler: same lines, less work per record
# --------------------------------------------------------------------------------------


def set_logger_fmt(logger: logging.Logger, stream: Any, fmt: str) -> None:
    """Upstream's ``set_logger_fmt`` making the handler of :mod:`._logging`.

    Upstream adds a ``logging.StreamHandler(stream)`` with a ``ColourizedFormatter(fmt,
    use_colors=True)`` unless the logger already has a handler on ``sys.stdout``. Two
    lines per message go through it ("Received", "Processed"), and per line the formatter
    ran ``time.strftime`` and the handler flushed the stream (one ``write`` system call).
    Here the handler is a :class:`~._logging.DeferredFlushStreamHandler` (lines written as
    they come, flushed within 50 ms, at once from WARNING up) and the formatter a
    :class:`~._logging.CachedTimeFormatter` (strftime once per second): the same lines on
    the same stream. A handler faststream made before (same logger) is upgraded in place.
    """
    from faststream._internal.logger import logging as fs_logging

    from ._logging import CachedTimeFormatter, DeferredFlushStreamHandler, upgrade

    if fs_logging._handler_exists(logger):
        for handler in logger.handlers:
            upgrade(handler)
        return

    handler = DeferredFlushStreamHandler(stream=stream)
    handler.setFormatter(CachedTimeFormatter(fmt=fmt, use_colors=True))
    logger.addHandler(handler)


def real_logger_log(
    self: Any,
    level: int,
    msg: Any,
    /,
    *,
    exc_info: Any = None,
    extra: Any = None,
) -> None:
    """Upstream's ``RealLoggerObject.log``, writing faststream's default access-log line
    directly when nothing but faststream's own handler could see the record.

    Upstream calls ``logger.log(level, msg, extra=extra, exc_info=exc_info)`` for every
    "Received"/"Processed" line: a ``LogRecord`` (a dozen attributes, the caller's frame
    looked up), the filter, the handler's lock and format. When the logger is faststream's
    access logger exactly as faststream set it up (see
    :func:`~._logging.write_directly`), the same line is formatted from the message's log
    context and written to the same stream; in any other case (a handler or filter the user
    added, propagation, a format with other fields, an exception, a patched ``logging``)
    the record takes upstream's path.
    """
    from ._logging import write_directly

    logger = self.logger
    if exc_info is None and type(logger) is logging.Logger and write_directly(
        logger, level, msg, extra
    ):
        return
    logger.log(level, msg, extra=extra, exc_info=exc_info)


# --------------------------------------------------------------------------------------
# 7. LogicSubscriber.subject: one Address per subject, not one per message
# --------------------------------------------------------------------------------------

_addresses: dict[tuple[str, str], Any] = {}


def _subscriber_subject(self: Any) -> Any:
    """Upstream's ``LogicSubscriber.subject``, built once per (subject, prefix).

    Upstream builds ``Address(self._subject, NATS_ADDRESS_SYNTAX).add_prefix(prefix)`` on
    every read, and ``get_log_context`` reads it for every message: ``Address.__init__``
    scans the subject character by character for ``{{``/``}}``. An ``Address`` is a
    value (its lazily compiled regex is a cache), so the one built for a (subject,
    prefix) pair serves every read; a prefix changed later is a new key.
    """
    from faststream._internal.utils.path import Address
    from faststream.nats.schemas.js_stream import NATS_ADDRESS_SYNTAX

    key = (self._subject, self._outer_config.prefix)
    address = _addresses.get(key)
    if address is None:
        address = _addresses[key] = Address(self._subject, NATS_ADDRESS_SYNTAX).add_prefix(key[1])
    return address


subscriber_subject = property(_subscriber_subject)


# --------------------------------------------------------------------------------------
# 8. StreamMessage's correlation id: uuid4 text without the UUID object
# --------------------------------------------------------------------------------------

_VARIANT = "89ab" * 4


def uuid4_text() -> str:
    """A random (version 4) UUID in its canonical text form, as ``str(uuid.uuid4())``.

    ``StreamMessage.__init__`` gives every message without a ``correlation_id`` header
    ``str(uuid4())``: 16 random bytes (``os.urandom``, as uuid4), then a ``UUID`` object
    and its ``__str__``. This formats the same bytes directly (version and variant bits
    set as uuid4 sets them): the same distribution, the same text, half the time. Patched
    in as the ``uuid4`` that ``faststream.message.message`` calls (``str()`` of a ``str``
    is the string itself).
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


# --------------------------------------------------------------------------------------
# 9. ConcurrentMixin (max_workers): a pool of workers, not a task per message
# --------------------------------------------------------------------------------------


async def concurrent_serve_consume_queue(self: Any) -> None:
    """Upstream's ``ConcurrentMixin._serve_consume_queue`` with ``max_workers`` workers.

    Upstream starts a new task for every message it takes from the subscriber's memory
    stream, and the task waits for the ``limiter`` semaphore (``max_workers`` permits)
    before it calls ``consume``: a task, a semaphore round and a context copy per message
    (measured: ``max_workers=4`` cost more per message than everything else faststream
    does). Here ``max_workers`` tasks each take the next message from the stream and
    consume it: at most ``max_workers`` messages are handled at once, as before; the
    stream's buffer (``max_workers`` messages) still makes ``_put_msg`` wait when all
    are busy; the workers end with the stream or with the subscriber's task (``stop()``).
    A worker takes a waiting message without a checkpoint and waits (a checkpoint) only
    when there is none.
    """
    receive_stream = self.receive_stream
    consume = self.consume
    would_block = anyio.WouldBlock

    async def worker() -> None:
        receive_nowait = receive_stream.receive_nowait
        receive = receive_stream.receive
        while True:
            try:
                try:
                    msg = receive_nowait()
                except would_block:
                    msg = await receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                # The stream ended or stop() closed it (a handler raised StopConsume):
                # a cancellation stop() asked for is delivered here, as upstream's
                # ``async for`` delivers it at its next receive.
                await anyio.lowlevel.checkpoint()
                return
            await consume(msg)

    async with anyio.create_task_group() as tg:
        for _ in range(self.max_workers):
            tg.start_soon(worker)


async def concurrent_put_msg(self: Any, msg: Any) -> None:
    """Upstream's ``ConcurrentMixin._put_msg`` without a semaphore round per message.

    Upstream holds the ``limiter`` while it sends the message into the subscriber's memory
    stream; with :func:`concurrent_serve_consume_queue` the limiter no longer counts the
    handlers (the workers do), and the stream's buffer is what makes the sender wait while
    every worker is busy. A message goes in at once while there is room (no checkpoint),
    else the sender waits for room as upstream's ``send`` does.
    """
    send_stream = self.send_stream
    try:
        send_stream.send_nowait(msg)
    except anyio.WouldBlock:
        await send_stream.send(msg)


# --------------------------------------------------------------------------------------
# 10. CriticalLogMiddleware with logging off: nothing built per message
# --------------------------------------------------------------------------------------


def critical_log_call(self: Any, msg: Any, /, *, context: Any) -> Any:
    """Upstream's ``CriticalLogMiddleware.__call__``, with one shared no-op object when the
    broker logs nothing (``logger=None``).

    Upstream builds a ``_LoggingMiddleware`` for every message; all it does is log
    "Received", "Processed" and a handler's exception through the broker's logger state.
    With ``logger=None`` that state holds an ``EmptyLoggerObject`` whose ``log`` does
    nothing, so the object, its ``consume_scope`` frame and its two log-context lookups
    per message change nothing: one shared object whose scopes call straight through
    stands in for it. With any logger, upstream's object as before.
    """
    from faststream._internal.logger.logger_proxy import EmptyLoggerObject
    from faststream.middlewares.logging import _LoggingMiddleware

    if type(self.logger.logger) is EmptyLoggerObject:
        return _SILENT_LOG_MIDDLEWARE
    return _LoggingMiddleware(logger=self.logger, msg=msg, context=context)


def _silent_log_middleware() -> Any:
    from anystream.broker._middleware import Shared

    return Shared(None)


_SILENT_LOG_MIDDLEWARE = _silent_log_middleware()


# --------------------------------------------------------------------------------------
# Assumptions, patches, install()
# --------------------------------------------------------------------------------------


def _not_defined(owner: str, attr: str) -> None:
    if attr in lookup(owner).__dict__:
        raise Broken(f"{owner} now defines {attr}")


def _is_uuid4(owner: str, attr: str) -> None:
    import uuid

    if original(owner, attr) is not uuid.uuid4:
        raise Broken(f"{owner}{attr} is no longer uuid.uuid4")


#: Every assumption :func:`install` checks first (the contract tests check each by name).
ASSUMPTIONS: tuple[Assumption, ...] = (
    # 1. add_task / stop
    Assumption(
        "TasksMixin defines add_task and stop",
        defines(_TASKS_MIXIN, "add_task", "stop"),
    ),
    Assumption(
        "TasksMixin keeps its tasks in a list, self.tasks (its one slot)",
        all_of(slots(_TASKS_MIXIN, ("tasks",)), uses(_TASKS_MIXIN, "__init__", "tasks")),
    ),
    Assumption(
        "TasksMixin.add_task(func, func_args, func_kwargs, *, restart_on_failure)",
        signature(
            _TASKS_MIXIN,
            "add_task",
            "(self, func, func_args=None, func_kwargs=None, *, restart_on_failure=True)",
        ),
    ),
    Assumption(
        "TasksMixin.add_task still starts an asyncio task (asyncio.create_task)",
        uses(_TASKS_MIXIN, "add_task", "asyncio", "create_task", "TaskCallbackSupervisor"),
    ),
    Assumption(
        "TasksMixin.stop calls super().stop(), then cancels self.tasks and clears the list",
        uses(_TASKS_MIXIN, "stop", "super", "stop", "tasks", "done", "cancel", "clear"),
    ),
    Assumption(
        "TaskCallbackSupervisor(func, func_args, func_kwargs, subscriber, *, "
        "ignored_exceptions, restart_on_failure)",
        signature(
            _TASK_SUPERVISOR,
            "__init__",
            "(self, func, func_args, func_kwargs, subscriber, *, ignored_exceptions="
            "(<class 'asyncio.exceptions.CancelledError'>,), restart_on_failure=True)",
        ),
    ),
    Assumption(
        "TaskCallbackSupervisor(task) reads task.get_name/cancelled/exception and restarts "
        "through subscriber.add_task while the task is in subscriber.tasks",
        uses(
            _TASK_SUPERVISOR,
            "__call__",
            "get_name",
            "cancelled",
            "exception",
            "tasks",
            "add_task",
        ),
    ),
    # 2. MultiLock
    Assumption(
        "MultiLock keeps its state in one slot, 'queue'",
        slots(_LOCK, ("queue",)),
    ),
    Assumption(
        "MultiLock defines __init__, acquire, release, qsize, empty, wait_release",
        defines(_LOCK, "__init__", "acquire", "release", "qsize", "empty", "wait_release"),
    ),
    Assumption(
        "MultiLock still counts with an asyncio.Queue and waits with queue.join()",
        all_of(
            uses(_LOCK, "__init__", "asyncio", "Queue"),
            uses(_LOCK, "wait_release", "join"),
        ),
    ),
    Assumption(
        "MultiLock.wait_release(timeout)",
        signature(_LOCK, "wait_release", "(self, timeout=None)"),
    ),
    Assumption(
        "SubscriberUsecase.start makes a MultiLock, process_message enters it per message, "
        "stop() awaits wait_release(graceful_timeout)",
        all_of(
            uses(_USECASE, "start", "MultiLock", "lock"),
            uses(_USECASE, "process_message", "enter_context", "lock"),
            uses(_USECASE, "stop", "MultiLock", "wait_release", "graceful_timeout"),
        ),
    ),
    # 3. acknowledgement middleware
    Assumption(
        "_AcknowledgementMiddleware.__aexit__ still checks asyncio.CancelledError",
        uses(_ACK, "__aexit__", "asyncio", "CancelledError"),
    ),
    Assumption(
        "_AcknowledgementMiddleware.__aexit__ is the 0.7.8 code our copy is based on",
        unchanged(_ACK, "__aexit__", "83844de287f2bac0", copy_in=__name__),
    ),
    Assumption(
        "_AcknowledgementMiddleware has the private __ack/__nack/__reject our copy calls",
        defines(
            _ACK,
            "_AcknowledgementMiddleware__ack",
            "_AcknowledgementMiddleware__nack",
            "_AcknowledgementMiddleware__reject",
        ),
    ),
    # 4. HandlerCallWrapper
    Assumption(
        "HandlerCallWrapper.trigger/refresh still make an asyncio.Future",
        all_of(
            uses(_CALL_WRAPPER, "trigger", "asyncio", "Future"),
            uses(_CALL_WRAPPER, "refresh", "asyncio", "Future", "_get_running_loop"),
        ),
    ),
    Assumption(
        "HandlerCallWrapper.trigger is the 0.7.8 code our copy is based on",
        unchanged(_CALL_WRAPPER, "trigger", "c9af2cb374d0e12a", copy_in=__name__),
    ),
    Assumption(
        "HandlerCallWrapper.refresh is the 0.7.8 code our copy is based on",
        unchanged(_CALL_WRAPPER, "refresh", "4cc3c0684fc55a54", copy_in=__name__),
    ),
    Assumption(
        "HandlerCallWrapper keeps its call future in the 'future' slot, reset_test clears it",
        all_of(
            has_slot(_CALL_WRAPPER, "future"),
            uses(_CALL_WRAPPER, "reset_test", "future"),
        ),
    ),
    Assumption(
        "HandlerCallWrapper.wait_call awaits self.future under anyio.fail_after",
        uses(_CALL_WRAPPER, "wait_call", "future", "fail_after"),
    ),
    # 5. NatsJSFastProducer.request
    Assumption(
        "NatsJSFastProducer.request still awaits an asyncio.Future",
        uses(_JS_PRODUCER, "request", "asyncio", "Future"),
    ),
    Assumption(
        "NatsJSFastProducer.request is the 0.7.8 code our copy is based on",
        unchanged(_JS_PRODUCER, "request", "6ff3b14e58b53548", copy_in=__name__),
    ),
    Assumption(
        "NatsJSFastProducer keeps its connection state in the private __state",
        uses(_JS_PRODUCER, "connect", "_NatsJSFastProducer__state"),
    ),
    # 6. the default access-log handler
    Assumption(
        "set_logger_fmt is the 0.7.8 code our copy is based on",
        unchanged(_LOGGING, "set_logger_fmt", "ea8e3e5ac56fdad7", copy_in=__name__),
    ),
    Assumption(
        "get_logger adds its handler through the module's set_logger_fmt",
        uses(_LOGGING, "get_logger", "set_logger_fmt"),
    ),
    Assumption(
        "ColourizedFormatter.formatMessage is the 0.7.8 code CachedTimeFormatter matches",
        unchanged(
            _FORMATTER, "formatMessage", "6751700b76f6eac3", copy_in=f"{__package__}._logging"
        ),
    ),
    Assumption(
        "ColourizedFormatter does not define formatTime (logging.Formatter's is the one used)",
        lambda: _not_defined(_FORMATTER, "formatTime"),
    ),
    Assumption(
        "RealLoggerObject.log is the 0.7.8 code our copy is based on",
        unchanged(_REAL_LOGGER, "log", "b6da5678a30d1308", copy_in=__name__),
    ),
    Assumption(
        "ExtendedFilter.filter is the 0.7.8 code write_directly does the work of",
        unchanged(
            "faststream._internal.logger.logging:ExtendedFilter",
            "filter",
            "9623ca3ff0461c35",
            copy_in=f"{__package__}._logging",
        ),
    ),
    # 7. LogicSubscriber.subject
    Assumption(
        "LogicSubscriber.subject is the 0.7.8 code our copy is based on",
        unchanged(_NATS_SUBSCRIBER, "subject", "5e0390612b4c7041", copy_in=__name__),
    ),
    Assumption(
        "Address keeps nothing but its declaration, syntax and compiled cache",
        slots(
            "faststream._internal.utils.path:Address",
            ("_compiled", "_declaration", "_syntax", "template"),
        ),
    ),
    # 8. the correlation id
    Assumption(
        "StreamMessage.__init__ is the 0.7.8 code: correlation_id or str(uuid4())",
        all_of(
            unchanged(_MESSAGE, "__init__", "ea7623a405559c80", copy_in=__name__),
            uses(_MESSAGE, "__init__", "uuid4", "str", "correlation_id"),
        ),
    ),
    Assumption(
        "faststream.message.message calls uuid4 through its module global (uuid.uuid4)",
        lambda: _is_uuid4(_MESSAGE_MODULE, "uuid4"),
    ),
    # 9. ConcurrentMixin
    Assumption(
        "ConcurrentMixin._serve_consume_queue is the 0.7.8 code (a task per message)",
        unchanged(_CONCURRENT, "_serve_consume_queue", "f2ecbf81e44782a0", copy_in=__name__),
    ),
    Assumption(
        "ConcurrentMixin._put_msg is the 0.7.8 code (send under the limiter)",
        unchanged(_CONCURRENT, "_put_msg", "47b31b93e1026730", copy_in=__name__),
    ),
    Assumption(
        "ConcurrentMixin._consume_msg only calls consume under the limiter",
        uses(_CONCURRENT, "_consume_msg", "limiter", "consume"),
    ),
    Assumption(
        "ConcurrentMixin.start opens the stream with a max_workers buffer; "
        "start_consume_task runs _serve_consume_queue as a subscriber task",
        all_of(
            uses(_CONCURRENT, "start", "create_memory_object_stream", "max_workers"),
            uses(_CONCURRENT, "start_consume_task", "add_task", "_serve_consume_queue"),
        ),
    ),
    # 10. CriticalLogMiddleware with logging off
    Assumption(
        "CriticalLogMiddleware.__call__ is the 0.7.8 code our copy is based on",
        unchanged(_CRITICAL_LOG, "__call__", "beb38c4f7f5fc7d6", copy_in=__name__),
    ),
    Assumption(
        "_LoggingMiddleware only logs (0.7.8 consume_scope and __aexit__)",
        all_of(
            unchanged(_LOGGING_MIDDLEWARE, "consume_scope", "b06254ce6ebf33ee", copy_in=__name__),
            unchanged(_LOGGING_MIDDLEWARE, "__aexit__", "05d913aa2db5e5d0", copy_in=__name__),
        ),
    ),
    Assumption(
        "EmptyLoggerObject.log (logger=None) does nothing (0.7.8 code)",
        unchanged(
            "faststream._internal.logger.logger_proxy:EmptyLoggerObject",
            "log",
            "d8787c1bff3da286",
            copy_in=__name__,
        ),
    ),
)


PATCHES = PatchSet(
    distribution="faststream",
    assumptions=ASSUMPTIONS,
    patches=(
        Patch(_TASKS_MIXIN, "add_task", add_task),
        Patch(_TASKS_MIXIN, "stop", tasks_mixin_stop),
        Patch(_LOCK, "__init__", multilock_init),
        Patch(_LOCK, "acquire", multilock_acquire),
        Patch(_LOCK, "release", multilock_release),
        Patch(_LOCK, "qsize", property(multilock_qsize)),
        Patch(_LOCK, "empty", property(multilock_empty)),
        Patch(_LOCK, "wait_release", multilock_wait_release),
        Patch(_ACK, "__aexit__", ack_middleware_aexit),
        Patch(_CALL_WRAPPER, "trigger", call_wrapper_trigger),
        Patch(_CALL_WRAPPER, "refresh", call_wrapper_refresh),
        Patch(_JS_PRODUCER, "request", js_producer_request),
        Patch(_LOGGING, "set_logger_fmt", set_logger_fmt),
        Patch(_REAL_LOGGER, "log", real_logger_log),
        Patch(_NATS_SUBSCRIBER, "subject", subscriber_subject),
        Patch(_MESSAGE_MODULE, "uuid4", uuid4_text),
        Patch(_CONCURRENT, "_serve_consume_queue", concurrent_serve_consume_queue),
        Patch(_CONCURRENT, "_put_msg", concurrent_put_msg),
        Patch(_CRITICAL_LOG, "__call__", critical_log_call),
    ),
    error=FaststreamAdapterError,
)


def install() -> None:
    """Patch faststream's asyncio-only internals (this module's docstring lists them).

    Idempotent. Checks every assumption in :data:`ASSUMPTIONS` first and patches nothing
    unless all hold: otherwise raises :class:`FaststreamAdapterError` naming each broken one.
    """
    PATCHES.install()


def uninstall() -> None:
    """Put faststream's own code back (tests use it to compare with upstream)."""
    PATCHES.uninstall()


def is_installed() -> bool:
    """Whether every patch is in place."""
    return PATCHES.is_installed()
