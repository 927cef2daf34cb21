"""Background tasks that outlive the call that starts them, each owned by a task group.

faststream's brokers start long-lived work from plain calls (``broker.start()`` starts
consume loops, a NATS connection starts its reader) and end it from other plain calls
(``broker.stop()``). anyio wants every task inside a task group that one task enters
and leaves, so such work cannot open its own task group. :func:`spawn` gives it a home:

- inside :func:`hosting` (anystream's lifespan opens it around its brokers) the task
  group given there owns every task spawned in that context: structured, nothing
  outlives the lifespan. Hosted tasks are shielded from the host's cancellation (a
  server that cancels the lifespan must not cut a handler short before the shielded
  shutdown drained it): they end when cancelled one by one or with :meth:`Host.cancel`;
- elsewhere (``async with broker`` in a user's script or test) the backend's own
  long-lived task primitive hosts it: an asyncio ``Task`` or a trio system task.
  That is the one backend-specific part; it lives in ``_asyncio.py`` / ``_trio_tasks.py``.

Either way the caller gets a :class:`BackgroundTask` to cancel and wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.abc
import sniffio

__all__ = ("BackgroundTask", "Host", "hosting", "spawn")

logger = logging.getLogger("anystream")


class Host:
    """The task group of a :func:`hosting` block and the tasks spawned into it."""

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self.task_group = task_group
        self.tasks: set[BackgroundTask] = set()

    def cancel(self) -> None:
        """Cancel every task spawned here that is still running."""
        for task in list(self.tasks):
            task.cancel()


_host: ContextVar[Host | None] = ContextVar("anystream_task_host", default=None)


class BackgroundTask:
    """A handle on one spawned task: :meth:`cancel` it, :meth:`wait` for it to end.

    An exception that escapes the task is logged and kept in ``exception``; it never
    tears down the host (a consume loop failing must not kill the lifespan).
    """

    def __init__(self, name: str, *, shield: bool = False) -> None:
        self.name = name
        self.exception: BaseException | None = None
        self._scope = anyio.CancelScope(shield=shield)
        self._done = anyio.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return self._scope.cancel_called

    def cancel(self) -> None:
        """Cancel the task (it may still be running its cleanup: :meth:`wait` for it)."""
        self._scope.cancel()

    async def wait(self) -> None:
        """Return once the task has ended, however it ended."""
        await self._done.wait()

    async def run(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            with self._scope:
                await fn(*args)
        except Exception as exc:
            self.exception = exc
            logger.exception("background task %s failed", self.name)
        finally:
            self._done.set()

    def __repr__(self) -> str:
        state = "done" if self.done else "cancelling" if self.cancelled else "running"
        return f"<BackgroundTask {self.name} {state}>"


@contextmanager
def hosting(task_group: anyio.abc.TaskGroup) -> Iterator[Host]:
    """Make ``task_group`` the owner of every task :func:`spawn` starts in this context.

    The tasks are shielded from ``task_group``'s cancellation: end them with
    :meth:`Host.cancel` (or each handle's ``cancel()``) before leaving the task group.
    """
    host = Host(task_group)
    token = _host.set(host)
    try:
        yield host
    finally:
        _host.reset(token)


def spawn(fn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None) -> BackgroundTask:
    """Start ``fn(*args)`` in the background; must be called from async code.

    The task runs in the task group of the enclosing :func:`hosting`, else in a
    backend task that outlives the caller (see the module docstring).
    """
    host = _host.get()
    task = BackgroundTask(name or str(getattr(fn, "__qualname__", fn)), shield=host is not None)
    if host is not None:
        host.tasks.add(task)

        async def run() -> None:
            try:
                await task.run(fn, args)
            finally:
                host.tasks.discard(task)

        host.task_group.start_soon(run, name=task.name)
    elif sniffio.current_async_library() == "trio":
        from ._trio_tasks import spawn_system_task

        spawn_system_task(task.run, fn, args, name=task.name)
    else:
        from ._asyncio import spawn_task

        spawn_task(task.run, fn, args, name=task.name)
    return task
