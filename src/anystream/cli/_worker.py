"""One worker process of ``anystream run``: import the app, serve it with hypercorn.

The supervisor (``_supervisor.py``) spawns this with a pipe; the worker reports on it:

- ``("ready",)`` once the app's lifespan start-up completed (brokers connected);
- ``("failed", code, message)`` when the app cannot be loaded or its start-up fails.

A worker ignores SIGINT and SIGTERM: the supervisor decides when it stops (its
``stop`` event), so a Ctrl+C or a ``kill`` of the whole process group still shuts
down gracefully. A worker whose supervisor disappeared stops by itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

import anyio
from hypercorn.config import Config, Sockets

from .._adapters.hypercorn import serve_worker
from .._groups import unwrap_group
from ..asgi._app import INTERNAL_BINDS_ENV, AsgiFastStream
from ..asgi.types import ASGIApp, Message, Receive, Scope, Send
from ._appload import LOAD_ERROR_CODE, AppLoadError, load_app

__all__ = ("STARTUP_FAILED_CODE", "WorkerSpec", "worker_main")

#: Exit code of a worker (and of ``anystream run``) whose app failed to start.
STARTUP_FAILED_CODE = 3

log = logging.getLogger("anystream.run")


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs besides hypercorn's config (picklable, sent to the process)."""

    target: str
    worker_class: str = "asyncio"
    factory: bool = False
    app_dir: str = "."
    extra_options: dict[str, Any] = field(default_factory=dict)
    log_level: str = "info"
    number: int = 0
    #: ``host:port`` of the ``--internal-bind`` sockets (``$ANYSTREAM_INTERNAL_BINDS``).
    internal_binds: tuple[str, ...] = ()


class _Reporter:
    """Wraps the app: tells the supervisor when the lifespan start-up completed or failed."""

    def __init__(self, app: ASGIApp, conn: Connection) -> None:
        self.app = app
        self.conn = conn
        self.failed: str | None = None

    def _report(self, *message: Any) -> None:
        # OSError: the supervisor is gone; the parent watch stops us.
        with contextlib.suppress(OSError):
            self.conn.send(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        answered = False

        async def reporting_send(message: Message) -> None:
            nonlocal answered
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                answered = True
                self._report("ready")
            elif kind == "lifespan.startup.failed":
                answered = True
                self.failed = str(message.get("message") or "the app's start-up failed")
                self._report("failed", STARTUP_FAILED_CODE, self.failed)
            await send(message)

        try:
            await self.app(scope, receive, reporting_send)
        finally:
            if not answered:
                # hypercorn goes on without lifespan for apps that do not speak it.
                self._report("ready")


def _install_signals() -> None:
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)


async def _stop_requested(stop: Event, reporter: _Reporter, parent: int) -> None:
    # Polls on purpose: the stop flag is set from a signal handler and the parent
    # check has no event to wait on.
    while not stop.is_set() and reporter.failed is None and os.getppid() == parent:  # noqa: ASYNC110
        await anyio.sleep(0.1)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def worker_main(
    spec: WorkerSpec,
    config: Config,
    sockets: Sockets,
    stop: Event,
    conn: Connection,
    parent: int,
) -> None:
    """Process entry point: load the app, serve until ``stop`` is set, exit."""
    _install_signals()
    _configure_logging(spec.log_level)
    if spec.internal_binds:
        # Read by AsgiFastStream when the app module builds it.
        os.environ[INTERNAL_BINDS_ENV] = ",".join(spec.internal_binds)
    try:
        app = load_app(
            spec.target,
            factory=spec.factory,
            app_dir=spec.app_dir,
            extra_options=spec.extra_options,
        )
    except AppLoadError as exc:
        if spec.log_level == "debug" and exc.__cause__ is not None:
            log.error("loading %s failed", spec.target, exc_info=exc.__cause__)
        conn.send(("failed", LOAD_ERROR_CODE, str(exc)))
        sys.exit(LOAD_ERROR_CODE)
    if spec.internal_binds and not isinstance(app, AsgiFastStream):
        log.warning(
            "--internal-bind: %s is not an anystream app, so it serves every route on every bind",
            spec.target,
        )
    reporter = _Reporter(app, conn)
    trigger = partial(_stop_requested, stop, reporter, parent)
    backend = "trio" if spec.worker_class == "trio" else "asyncio"
    options = {"use_uvloop": True} if spec.worker_class == "uvloop" else {}
    try:
        anyio.run(
            serve_worker,
            backend,
            reporter,
            config,
            sockets,
            trigger,
            backend=backend,
            backend_options=options,
        )
    except BaseException as exc:
        if reporter.failed is not None:
            sys.exit(STARTUP_FAILED_CODE)
        inner = unwrap_group(exc)
        reason = f"{type(inner).__name__}: {inner}"
        log.error("worker crashed: %s", reason, exc_info=exc)
        reporter._report("failed", 1, reason)
        sys.exit(1)
    if reporter.failed is not None:
        sys.exit(STARTUP_FAILED_CODE)
