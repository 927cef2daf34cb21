"""The app's run: faststream's start/stop order on anyio, and the ASGI lifespan protocol.

:func:`run_app` is ``AsgiFastStream.start_lifespan_context``: hooks, brokers (via
:func:`~anystream.broker.broker_lifespan`), hooks back, the shutdown half
shielded and bounded. :func:`serve_lifespan` speaks the ASGI lifespan protocol
around it, with the reason of a failed start or stop in the ``failed`` message.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from faststream.exceptions import StartupValidationError

from .._adapters import faststream as upstream
from .._groups import unwrap_group
from .._redact import redact
from ..broker import broker_lifespan
from ._routing import INTERNAL_BINDS_ENV
from .types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from ._app import AsgiFastStream

__all__ = ("log_exposure", "run_app", "serve_lifespan")

log = logging.getLogger("anystream")


@asynccontextmanager
async def run_app(
    app: AsgiFastStream,
    run_extra_options: Mapping[str, Any] | None = None,
    *,
    state: MutableMapping[str, Any] | None = None,
) -> AsyncIterator[None]:
    """Run ``app``: hooks, brokers (connected and consuming), then hooks back.

    Order, as in faststream: ``lifespan`` enters, ``on_startup`` hooks (with the
    CLI's extra options), brokers start, ``after_startup``; on exit
    ``on_shutdown``, brokers stop, ``after_shutdown``, ``lifespan`` exits. The
    shutdown half is shielded from cancellation and bounded by ``shutdown_timeout``.
    """
    options = dict(run_extra_options or upstream.run_extra_options(app))
    async with app.lifespan_context(**options) as value:
        if state is not None and isinstance(value, Mapping):
            state.update(value)
        upstream.log(app, "FastStream app starting...")
        async with upstream.catch_startup_validation_error():
            for hook in upstream.hooks(app, "on_startup"):
                await hook(**options)
        async with broker_lifespan(
            *app.brokers,
            shutdown_timeout=app.shutdown_timeout,
            consume_budget=app.consume_budget,
            redelivery_memory=app.redelivery_memory,
            startup_timeout=app.startup_timeout,
        ):
            for hook in upstream.hooks(app, "after_startup"):
                await hook()
            app.running = True
            upstream.log(app, "FastStream app started successfully!")
            log_exposure(app)
            try:
                yield
            finally:
                app.running = False
                upstream.log(app, "FastStream app shutting down...")
                with anyio.CancelScope(shield=True), anyio.move_on_after(app.shutdown_timeout):
                    for hook in upstream.hooks(app, "on_shutdown"):
                        await hook()
        with anyio.CancelScope(shield=True), anyio.move_on_after(app.shutdown_timeout):
            for hook in upstream.hooks(app, "after_shutdown"):
                await hook()
        upstream.log(app, "FastStream app shut down gracefully.")


def log_exposure(app: AsgiFastStream) -> None:
    """One line each for what the HTTP side exposes beyond the app's own routes."""
    if app.try_it_out_path is not None:
        where = "internal binds" if app.docs_internal else "every bind"
        if app.try_it_out_real_broker:
            log.warning(
                "AsyncAPI try-it-out is on at POST %s (%s) and publishes to the real "
                "broker: whoever reaches it can put messages on any channel",
                app.try_it_out_path, where,
            )
        else:
            log.warning(
                "AsyncAPI try-it-out is on at POST %s (%s), dry runs only: whoever "
                "reaches it can run the app's subscribers with any payload",
                app.try_it_out_path, where,
            )
    if app.internal_routes and not app.internal_binds:
        log.warning(
            "internal routes (%s) answer 404: no internal bind is set (internal_binds=, "
            "$%s, or anystream run --internal-bind)",
            _route_paths(app.internal_routes), INTERNAL_BINDS_ENV,
        )
    elif app.internal_routes:
        log.info(
            "internal routes (%s) answer only on %r",
            _route_paths(app.internal_routes), app.internal_binds,
        )


async def serve_lifespan(app: AsgiFastStream, scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI lifespan protocol around ``app.start_lifespan_context``."""
    await receive()  # lifespan.startup
    started = False
    try:
        async with app.start_lifespan_context(state=scope.get("state")):
            await send({"type": "lifespan.startup.complete"})
            started = True
            await receive()  # lifespan.shutdown
    except Exception as exc:
        phase = "shutdown" if started else "startup"
        reason = _describe(exc)
        log.error("lifespan %s failed: %s", phase, reason, exc_info=unwrap_group(exc))
        # hypercorn raises LifespanFailureError from send() here and expects it to
        # propagate out of the app: that is what makes its worker exit. Swallowing
        # it makes hypercorn serve on without lifespan (and without brokers).
        await send({"type": f"lifespan.{phase}.failed", "message": reason})
        failure = unwrap_group(exc)
    else:
        await send({"type": "lifespan.shutdown.complete"})
        return
    # Then re-raise, as faststream and Starlette do: Starlette's TestClient raises
    # it (cause chained), uvicorn stays quiet once told "failed". Raised outside the
    # except block so the error keeps its own context, not the exception group's.
    raise failure


def _route_paths(routes: Iterable[tuple[str, ASGIApp]]) -> str:
    return ", ".join(dict.fromkeys(path or "/" for path, _ in routes))


def _describe(exc: BaseException) -> str:
    exc = unwrap_group(exc)
    if isinstance(exc, StartupValidationError):
        parts = []
        if exc.missed_fields:
            parts.append("missing options: " + ", ".join(exc.missed_fields))
        if exc.invalid_fields:
            parts.append("invalid options: " + ", ".join(exc.invalid_fields))
        return "; ".join(parts) or "invalid startup options"
    text = str(exc) or repr(exc)
    return redact(f"{type(exc).__name__}: {text}")
