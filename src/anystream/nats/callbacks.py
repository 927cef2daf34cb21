"""The user's event callbacks (errors, disconnects...), run in order in one task."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import anyio

__all__ = ("CallbackRunner",)

logger = logging.getLogger("anystream.nats")

_Call = tuple[Callable[..., Any], tuple[Any, ...]]


class CallbackRunner:
    """A bounded queue of callback calls and the task that runs them one at a time.

    Callbacks may be plain or async functions; one that raises is logged and the next
    runs. :meth:`emit` never blocks: a call is dropped (and logged) when the queue is full
    or closed.
    """

    def __init__(self, size: int = 256) -> None:
        send, receive = anyio.create_memory_object_stream[_Call](size)
        self._send = send
        self._receive = receive
        self.done = anyio.Event()
        """Set when :meth:`run` has ended."""

    def emit(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            self._send.send_nowait((callback, args))
        except anyio.ClosedResourceError:
            logger.debug("nats: closed, dropped a call to %r", callback)
        except anyio.WouldBlock:
            logger.warning("nats: event queue full, dropped a call to %r", callback)

    async def run(self) -> None:
        """Run the calls as they come, until :meth:`close` and the queue is empty."""
        try:
            async for callback, args in self._receive:
                try:
                    result = callback(*args)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("nats: event callback %r failed", callback)
        finally:
            self._receive.close()
            self.done.set()

    def close(self, *, started: bool = True) -> None:
        """No more calls; :meth:`run` ends once the queued ones ran (``started=False``:
        it never will run, release everything now)."""
        self._send.close()
        if not started:
            self._receive.close()
