"""Drive an ASGI app's lifespan in-process, as a server would (for tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from .._groups import unwrap_group
from ..asgi.types import ASGIApp, Message
from ..exceptions import LifespanFailed

__all__ = ("lifespan",)


@asynccontextmanager
async def lifespan(
    app: ASGIApp, *, state: dict[str, Any] | None = None, timeout: float = 30.0
) -> AsyncIterator[dict[str, Any]]:
    """Start ``app`` (``lifespan.startup``), yield its ``state``, shut it down on exit.

    Raises :class:`LifespanFailed` with the app's message if either phase fails.
    """
    state = {} if state is None else state
    to_app, app_inbox = anyio.create_memory_object_stream[Message](2)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](2)
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}

    # An app that reports a failure then re-raises it (Starlette's, faststream's and
    # anystream's do): the error becomes the cause of LifespanFailed.
    app_errors: list[Exception] = []
    app_done = anyio.Event()

    async def run_app() -> None:
        try:
            async with app_inbox, app_outbox:
                await app(scope, app_inbox.receive, app_outbox.send)
        except Exception as exc:
            app_errors.append(exc)
        finally:
            app_done.set()

    async def failed(phase: str, reply: Message) -> LifespanFailed:
        with anyio.move_on_after(timeout):
            await app_done.wait()
        error = LifespanFailed(phase, reply.get("message", ""))
        error.__cause__ = app_errors[0] if app_errors else None
        return error

    try:
        async with anyio.create_task_group() as tg, to_app, from_app:
            tg.start_soon(run_app)
            with anyio.fail_after(timeout):
                await to_app.send({"type": "lifespan.startup"})
                try:
                    reply = await from_app.receive()
                except anyio.EndOfStream:
                    # The app returned or raised without answering.
                    await app_done.wait()
                    if app_errors:
                        raise app_errors[0] from app_errors[0].__cause__
                    raise
            if reply["type"] != "lifespan.startup.complete":
                raise await failed("startup", reply)
            try:
                yield state
            finally:
                with anyio.CancelScope(shield=True), anyio.fail_after(timeout):
                    try:
                        await to_app.send({"type": "lifespan.shutdown"})
                        reply = await from_app.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        # The app's lifespan task was cancelled with us: a server that
                        # gives up sends no shutdown message either.
                        reply = {"type": "lifespan.shutdown.complete"}
                    if reply["type"] != "lifespan.shutdown.complete":
                        raise await failed("shutdown", reply)
    except BaseException as exc:
        # Unwrap the task group's exception group when it holds a single error, so
        # callers see the error itself (a test failure, LifespanFailed).
        inner = unwrap_group(exc)
        if inner is not exc:
            raise inner from inner.__cause__
        raise
