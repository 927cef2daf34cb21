"""Subscriber tasks and the in-flight lock on anyio (``TasksMixin``, ``MultiLock``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from contextvars import ContextVar
from typing import Any

import anyio

from anystream.runtime.tasks import BackgroundTask, spawn

from .._contract import (
    Assumption,
    Patch,
    all_of,
    defines,
    signature,
    slots,
    uses,
)

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "TASK_STOP_TIMEOUT",
    "SupervisedTask",
    "add_task",
    "multilock_acquire",
    "multilock_empty",
    "multilock_init",
    "multilock_qsize",
    "multilock_release",
    "multilock_wait_release",
    "tasks_mixin_stop",
)

logger = logging.getLogger("anystream")

_MIXINS = "faststream._internal.endpoint.subscriber.mixins"
_SUPERVISOR = "faststream._internal.endpoint.subscriber.supervisor"
_LOCK = "faststream._internal.endpoint.subscriber.utils:MultiLock"
_USECASE = "faststream._internal.endpoint.subscriber.usecase:SubscriberUsecase"
_TASKS_MIXIN = f"{_MIXINS}:TasksMixin"
_TASK_SUPERVISOR = f"{_SUPERVISOR}:TaskCallbackSupervisor"


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
# What these replacements assume, and the patches
# --------------------------------------------------------------------------------------

#: Checked by :func:`~anystream._adapters.faststream.install` before it patches anything.
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
)

PATCHES: tuple[Patch, ...] = (
    Patch(_TASKS_MIXIN, "add_task", add_task),
    Patch(_TASKS_MIXIN, "stop", tasks_mixin_stop),
    Patch(_LOCK, "__init__", multilock_init),
    Patch(_LOCK, "acquire", multilock_acquire),
    Patch(_LOCK, "release", multilock_release),
    Patch(_LOCK, "qsize", property(multilock_qsize)),
    Patch(_LOCK, "empty", property(multilock_empty)),
    Patch(_LOCK, "wait_release", multilock_wait_release),
)
