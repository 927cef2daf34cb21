"""faststream's test client (``HandlerCallWrapper``'s call future) on anyio."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import anyio

from .._contract import (
    Assumption,
    Patch,
    all_of,
    has_slot,
    unchanged,
    uses,
)

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "CallFuture",
    "call_wrapper_refresh",
    "call_wrapper_trigger",
)

_CALL_WRAPPER = "faststream._internal.endpoint.call_wrapper:HandlerCallWrapper"


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
    if not self.is_test:
        return

    from faststream.exceptions import SetupError

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
# What these replacements assume, and the patches
# --------------------------------------------------------------------------------------

#: Checked by :func:`~anystream._adapters.faststream.install` before it patches anything.
ASSUMPTIONS: tuple[Assumption, ...] = (
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
)

PATCHES: tuple[Patch, ...] = (
    Patch(_CALL_WRAPPER, "trigger", call_wrapper_trigger),
    Patch(_CALL_WRAPPER, "refresh", call_wrapper_refresh),
)
