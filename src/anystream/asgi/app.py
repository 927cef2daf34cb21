"""``AsgiFastStream``: faststream's ASGI app, with its runtime rebuilt on anyio."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from faststream._internal.application import catch_startup_validation_error
from faststream._internal.constants import EMPTY
from faststream._internal.logger import logger as faststream_logger
from faststream.asgi import AsgiFastStream as _UpstreamAsgiFastStream
from faststream.asgi.factories import AsyncAPIRoute, make_try_it_out_handler
from faststream.exceptions import StartupValidationError

from .._redact import redact
from ..lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT, broker_lifespan
from ..slicing import DEFAULT_CONSUME_BUDGET
from .asyncapi import make_asyncapi_asgi, make_asyncapi_json_asgi
from .limits import RequestBodyTooLarge, declared_length, limit_body, payload_too_large
from .responses import method_not_allowed, not_found, send_internal_error
from .routing import MethodNotAllowed, Mounted, Router, route_path
from .types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fast_depends import Provider
    from fast_depends.library.serializer import SerializerProto
    from faststream._internal.basic_types import AnyCallable, Lifespan, LoggerProto
    from faststream._internal.broker import BrokerUsecase
    from faststream._internal.context import ContextRepo
    from faststream.specification.base import SpecificationFactory

__all__ = ("AsgiFastStream",)

log = logging.getLogger("anystream")


class AsgiFastStream(_UpstreamAsgiFastStream):
    """An ASGI app that runs FastStream brokers in its lifespan, on asyncio or trio.

    A drop-in for ``faststream.asgi.AsgiFastStream`` (same constructor, same
    ``mount``), with these differences on purpose:

    - ``lifespan.startup.complete`` is sent only once every broker is connected
      and its subscribers run; a failed start sends ``lifespan.startup.failed``
      with the reason, so the server exits non-zero.
    - Start-up is bounded by ``startup_timeout`` (30 s per broker): an unreachable
      server fails the start with a reason well before the server's own deadline.
    - Shutdown runs shielded, bounded by ``shutdown_timeout``: subscribers stop,
      in-flight handlers finish, connections drain, even if the server cancels.
    - Non-handler apps are mounted with Starlette semantics; 404 and 405 (with
      ``Allow``) are answered; HEAD never carries a body; websockets are closed.
    - A mapping yielded by ``lifespan`` is merged into the ASGI lifespan
      ``state``, which servers copy into every request's ``scope["state"]``.
    - ``max_body_size`` (bytes, default None: no limit) caps request bodies: a
      larger ``Content-Length`` gets 413 before any handler runs, and a streamed
      body that grows past it gets 413 while it is read (mounted apps included).
    - Opt-in (``redelivery_memory=N``, default off): a JetStream message redelivered
      after its ack was lost is acked, not handled twice, when this process handled
      and acked it already.
    - Consumers are time-sliced: ``consume_budget`` (default 2 ms) is how long a
      consumer may run before yielding to the event loop, so routes such as
      ``/health`` answer promptly under any message load; ``None`` disables it.
    """

    def __init__(
        self,
        *brokers: BrokerUsecase[Any, Any, Any],
        asgi_routes: Sequence[tuple[str, ASGIApp]] = (),
        logger: LoggerProto | None = faststream_logger,
        provider: Provider | None = None,
        serializer: SerializerProto | None = EMPTY,
        context: ContextRepo | None = None,
        lifespan: Lifespan | None = None,
        on_startup: Sequence[AnyCallable] = (),
        after_startup: Sequence[AnyCallable] = (),
        on_shutdown: Sequence[AnyCallable] = (),
        after_shutdown: Sequence[AnyCallable] = (),
        specification: SpecificationFactory | None = None,
        asyncapi_path: str | AsyncAPIRoute | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        consume_budget: float | None = DEFAULT_CONSUME_BUDGET,
        startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
        max_body_size: int | None = None,
        redelivery_memory: int | None = None,
    ) -> None:
        super().__init__(
            *brokers,
            asgi_routes=asgi_routes,
            logger=logger,
            provider=provider,
            serializer=serializer,
            context=context,
            lifespan=lifespan,
            on_startup=on_startup,
            after_startup=after_startup,
            on_shutdown=on_shutdown,
            after_shutdown=after_shutdown,
            specification=specification,
            asyncapi_path=None,
        )
        self.shutdown_timeout = shutdown_timeout
        #: Seconds each broker may take to connect; None: as long as its client retries.
        self.startup_timeout = startup_timeout
        #: Seconds a consumer may run before yielding to the event loop; None: never.
        self.consume_budget = consume_budget
        #: Largest request body accepted, in bytes; None: no limit.
        self.max_body_size = max_body_size
        #: JetStream messages remembered as handled; their redeliveries are skipped.
        self.redelivery_memory = redelivery_memory
        self._router: Router | None = None
        if asyncapi_path:
            self._add_asyncapi_routes(AsyncAPIRoute.ensure_route(asyncapi_path))

    @classmethod
    def from_app(  # type: ignore[override]
        cls,
        app: Any,
        asgi_routes: Sequence[tuple[str, ASGIApp]],
        asyncapi_path: str | AsyncAPIRoute | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        *,
        consume_budget: float | None = DEFAULT_CONSUME_BUDGET,
        startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
        max_body_size: int | None = None,
        redelivery_memory: int | None = None,
    ) -> AsgiFastStream:
        """``app`` (its brokers, hooks, lifespan, logger) served with these options."""
        asgi_app = cls(
            *app.brokers,
            asgi_routes=asgi_routes,
            asyncapi_path=asyncapi_path,
            logger=app.logger,
            shutdown_timeout=shutdown_timeout,
            consume_budget=consume_budget,
            startup_timeout=startup_timeout,
            max_body_size=max_body_size,
            redelivery_memory=redelivery_memory,
        )
        # As faststream's from_app: the app's lifespan and hooks run in ours.
        asgi_app.lifespan_context = app.lifespan_context
        asgi_app._on_startup_calling = app._on_startup_calling
        asgi_app._after_startup_calling = app._after_startup_calling
        asgi_app._on_shutdown_calling = app._on_shutdown_calling
        asgi_app._after_shutdown_calling = app._after_shutdown_calling
        return asgi_app

    # Routing

    def _add_asyncapi_routes(self, route: AsyncAPIRoute) -> None:
        docs = make_asyncapi_asgi(
            self.schema,
            description=route.description,
            tags=route.tags,
            unique_id=route.unique_id,
            include_in_schema=route.include_in_schema,
            sidebar=route.sidebar,
            info=route.info,
            servers=route.servers,
            operations=route.operations,
            messages=route.messages,
            schemas=route.schemas,
            errors=route.errors,
            expand_message_examples=route.expand_message_examples,
            asyncapi_js_url=route.asyncapi_js_url,
            asyncapi_css_url=route.asyncapi_css_url,
            try_it_out_plugin_url=route.try_it_out_plugin_url,
            try_it_out_path=route.try_it_out_path,
        )
        docs.set_logger(self.logger)
        self.routes.append((route.path, docs))
        if route.asyncapi_json_path:
            json_handler = make_asyncapi_json_asgi(
                self.schema, include_in_schema=route.include_in_schema
            )
            self.routes.append((route.asyncapi_json_path, json_handler))
        if route.try_it_out_path is not None and self.brokers:
            try_it_out = make_try_it_out_handler(
                self.brokers, include_in_schema=route.include_in_schema
            )
            try_it_out.update_fd_config(self.config)
            try_it_out.set_logger(self.logger)
            self.routes.append((route.try_it_out_path, try_it_out))
        self._router = None

    def mount(self, path: str, route: ASGIApp) -> None:
        """Serve ``route`` at ``path`` (an endpoint) or below it (any other ASGI app)."""
        super().mount(path, route)
        self._router = None

    @property
    def router(self) -> Router:
        router = self._router
        if router is None:
            router = self._router = Router(self.routes)
        return router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "HEAD":
            send = _without_body(send)
        limit = self.max_body_size
        if limit is not None:
            length = declared_length(scope)
            if length is not None and length > limit:
                await payload_too_large(scope, receive, send)
                return
            receive = limit_body(receive, limit)
        target = self.router.resolve_http(route_path(scope), method)
        if target is None:
            await not_found(scope, receive, send)
        elif isinstance(target, Mounted):
            await self._call_mounted(target, scope, receive, send)
        elif isinstance(target, MethodNotAllowed):
            await method_not_allowed(target.allow)(scope, receive, send)
        else:
            # HttpHandler: answers 422/500 itself and logs.
            await target(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        mounted = self.router.resolve_mount(route_path(scope))
        if mounted is not None:
            await self._call_mounted(mounted, scope, receive, send)
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000, "reason": "no websocket route"})

    async def _call_mounted(
        self, mounted: Mounted, scope: Scope, receive: Receive, send: Send
    ) -> None:
        child = dict(scope)
        child["root_path"] = scope.get("root_path", "") + mounted.prefix
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await mounted.app(child, receive, tracking_send)
        except RequestBodyTooLarge:
            if not started:
                await payload_too_large(scope, receive, send)
        except Exception:
            log.exception("unhandled error in the app mounted at %r", mounted.prefix or "/")
            if scope["type"] == "http" and not started:
                await send_internal_error(scope, receive, send)

    # Lifespan

    @asynccontextmanager
    async def start_lifespan_context(
        self,
        run_extra_options: Mapping[str, Any] | None = None,
        *,
        state: MutableMapping[str, Any] | None = None,
    ) -> AsyncIterator[None]:
        """Run the app: hooks, brokers (connected and consuming), then hooks back.

        Order, as in faststream: ``lifespan`` enters, ``on_startup`` hooks (with the
        CLI's extra options), brokers start, ``after_startup``; on exit
        ``on_shutdown``, brokers stop, ``after_shutdown``, ``lifespan`` exits. The
        shutdown half is shielded from cancellation and bounded by ``shutdown_timeout``.
        """
        options = dict(run_extra_options or self._run_extra_options)
        async with self.lifespan_context(**options) as value:
            if state is not None and isinstance(value, Mapping):
                state.update(value)
            self._log(self._log_level, "FastStream app starting...")
            async with catch_startup_validation_error():
                for hook in self._on_startup_calling:
                    await hook(**options)
            async with broker_lifespan(
                *self.brokers,
                shutdown_timeout=self.shutdown_timeout,
                consume_budget=self.consume_budget,
                redelivery_memory=self.redelivery_memory,
                startup_timeout=self.startup_timeout,
            ):
                for hook in self._after_startup_calling:
                    await hook()
                self.running = True
                self._log(self._log_level, "FastStream app started successfully!")
                try:
                    yield
                finally:
                    self.running = False
                    self._log(self._log_level, "FastStream app shutting down...")
                    with anyio.CancelScope(shield=True), anyio.move_on_after(
                        self.shutdown_timeout
                    ):
                        for hook in self._on_shutdown_calling:
                            await hook()
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.shutdown_timeout):
                for hook in self._after_shutdown_calling:
                    await hook()
            self._log(self._log_level, "FastStream app shut down gracefully.")

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around :meth:`start_lifespan_context`."""
        await receive()  # lifespan.startup
        started = False
        try:
            async with self.start_lifespan_context(state=scope.get("state")):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except Exception as exc:
            phase = "shutdown" if started else "startup"
            reason = _describe(exc)
            log.error("lifespan %s failed: %s", phase, reason, exc_info=_unwrap(exc))
            # hypercorn raises LifespanFailureError from send() here and expects it to
            # propagate out of the app: that is what makes its worker exit. Swallowing
            # it makes hypercorn serve on without lifespan (and without brokers).
            await send({"type": f"lifespan.{phase}.failed", "message": reason})
            failure = _unwrap(exc)
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return
        # Then re-raise, as faststream and Starlette do: Starlette's TestClient raises
        # it (cause chained), uvicorn stays quiet once told "failed". Raised outside the
        # except block so the error keeps its own context, not the exception group's.
        raise failure


def _unwrap(exc: BaseException) -> BaseException:
    # Exception groups (built in from 3.11, a backport on 3.10) hold `.exceptions`.
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
    while len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", ())
    return exc


def _describe(exc: BaseException) -> str:
    exc = _unwrap(exc)
    if isinstance(exc, StartupValidationError):
        parts = []
        if exc.missed_fields:
            parts.append("missing options: " + ", ".join(exc.missed_fields))
        if exc.invalid_fields:
            parts.append("invalid options: " + ", ".join(exc.invalid_fields))
        return "; ".join(parts) or "invalid startup options"
    text = str(exc) or repr(exc)
    return redact(f"{type(exc).__name__}: {text}")


def _without_body(send: Send) -> Send:
    """HEAD: pass the headers (Content-Length included), drop the body bytes."""

    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}
        await send(message)

    return head_send
