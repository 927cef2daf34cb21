"""``AsgiFastStream``: faststream's ASGI app, with its runtime rebuilt on anyio."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypedDict

import anyio
from faststream._internal.application import catch_startup_validation_error
from faststream._internal.constants import EMPTY
from faststream._internal.logger import logger as faststream_logger
from faststream.asgi import AsgiFastStream as _UpstreamAsgiFastStream
from faststream.asgi.factories import AsyncAPIRoute
from faststream.asgi.handlers import HttpHandler
from faststream.exceptions import StartupValidationError
from typing_extensions import Unpack

from .._groups import unwrap_group
from .._redact import redact
from ..broker import (
    DEFAULT_CONSUME_BUDGET,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_STARTUP_TIMEOUT,
    broker_lifespan,
)
from ..exceptions import RequestBodyTooLarge
from .asyncapi import make_asyncapi_asgi, make_asyncapi_json_asgi
from .handlers import answer
from .limits import DEFAULT_MAX_BODY_SIZE, declared_length, limit_body, payload_too_large
from .responses import method_not_allowed, not_found, send_internal_error
from .routing import InternalBinds, MethodNotAllowed, Mounted, Router, route_path
from .try_it_out import is_faststream_try_it_out, make_try_it_out_handler
from .types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fast_depends import Provider
    from fast_depends.library.serializer import SerializerProto
    from faststream._internal.basic_types import AnyCallable, Lifespan, LoggerProto
    from faststream._internal.broker import BrokerUsecase
    from faststream._internal.context import ContextRepo
    from faststream.specification.base import SpecificationFactory

__all__ = ("INTERNAL_BINDS_ENV", "AsgiFastStream")

#: Where ``anystream run --internal-bind`` (or you, under another server) names the
#: internal binds: ``ANYSTREAM_INTERNAL_BINDS=127.0.0.1:9090`` (comma-separated).
INTERNAL_BINDS_ENV = "ANYSTREAM_INTERNAL_BINDS"

log = logging.getLogger("anystream")


class AsgiOptions(TypedDict, total=False):
    """anystream's own :class:`AsgiFastStream` options, forwarded by ``from_app`` and
    ``anystream.FastStream.as_asgi`` (one list, so no builder can drop one)."""

    startup_timeout: float | None
    consume_budget: float | None
    max_body_size: int | None
    redelivery_memory: int | None
    try_it_out: bool
    try_it_out_real_broker: bool
    internal_routes: Sequence[tuple[str, ASGIApp]]
    internal_binds: Iterable[str | int] | None
    docs_internal: bool


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
    - ``max_body_size`` (bytes, default 1 MiB; None: no limit) caps request
      bodies: a larger ``Content-Length`` gets 413 before any handler runs, and a
      streamed body that grows past it gets 413 while it is read (mounted apps
      included). Every handler, built with anystream's or faststream's ``get`` /
      ``post``, answers 413, 422 (malformed JSON) and 500 with fixed bodies.
    - The AsyncAPI try-it-out endpoint is off unless ``try_it_out=True``; even
      then it only dry-runs, unless ``try_it_out_real_broker=True`` too.
    - ``internal_routes`` (and ``mount(..., internal=True)``, ``docs_internal``)
      answer only on the internal binds (``internal_binds`` or
      ``$ANYSTREAM_INTERNAL_BINDS``, set by ``anystream run --internal-bind``);
      404 elsewhere.
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
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        redelivery_memory: int | None = None,
        try_it_out: bool = False,
        try_it_out_real_broker: bool = False,
        internal_routes: Sequence[tuple[str, ASGIApp]] = (),
        internal_binds: Iterable[str | int] | None = None,
        docs_internal: bool = False,
    ) -> None:
        if try_it_out_real_broker and not try_it_out:
            raise ValueError("try_it_out_real_broker=True needs try_it_out=True")
        #: Whether ``asyncapi_path`` also serves the try-it-out endpoint (dry runs).
        self.try_it_out = try_it_out
        #: Whether try-it-out may publish to the real broker (``sendToRealBroker``).
        self.try_it_out_real_broker = try_it_out_real_broker
        self._try_it_out_path: str | None = None
        super().__init__(
            *brokers,
            asgi_routes=[r for r in (self._vetted(r, brokers) for r in asgi_routes) if r],
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
        #: Routes served only on an internal bind (404 on the others).
        self.internal_routes: list[tuple[str, ASGIApp]] = []
        self.internal_binds = (
            InternalBinds.from_text(os.environ.get(INTERNAL_BINDS_ENV, ""))
            if internal_binds is None
            else InternalBinds(internal_binds)
        )
        self.docs_internal = docs_internal
        self._router: Router | None = None
        self._public_router: Router | None = None
        for path, route in internal_routes:
            self.mount(path, route, internal=True)
        if asyncapi_path:
            self._add_asyncapi_routes(AsyncAPIRoute.ensure_route(asyncapi_path))

    @property
    def internal_binds(self) -> InternalBinds:
        """The binds that count as internal (matched on ``scope["server"]``)."""
        return self._internal_binds

    @internal_binds.setter
    def internal_binds(self, binds: InternalBinds | Iterable[str | int]) -> None:
        self._internal_binds = binds if isinstance(binds, InternalBinds) else InternalBinds(binds)

    @property
    def try_it_out_path(self) -> str | None:
        """Where the try-it-out endpoint answers, or None when it is off."""
        return self._try_it_out_path

    @classmethod
    def from_app(  # type: ignore[override]
        cls,
        app: Any,
        asgi_routes: Sequence[tuple[str, ASGIApp]] = (),
        asyncapi_path: str | AsyncAPIRoute | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        **options: Unpack[AsgiOptions],
    ) -> AsgiFastStream:
        """``app`` (its brokers, hooks, lifespan, logger) served with these options."""
        asgi_app = cls(
            *app.brokers,
            asgi_routes=asgi_routes,
            asyncapi_path=asyncapi_path,
            logger=app.logger,
            shutdown_timeout=shutdown_timeout,
            **options,
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
            # Off: the page shows no "try it" form and nothing answers its POST.
            try_it_out_path=route.try_it_out_path if self.try_it_out else None,
        )
        docs.set_logger(self.logger)
        routes = self.internal_routes if self.docs_internal else self.routes
        routes.append((route.path, docs))
        if route.asyncapi_json_path:
            json_handler = make_asyncapi_json_asgi(
                self.schema, include_in_schema=route.include_in_schema
            )
            routes.append((route.asyncapi_json_path, json_handler))
        if self.try_it_out and route.try_it_out_path is not None and self.brokers:
            try_it_out = make_try_it_out_handler(
                self.brokers,
                include_in_schema=route.include_in_schema,
                send_to_real_broker=self.try_it_out_real_broker,
            )
            try_it_out.update_fd_config(self.config)
            try_it_out.set_logger(self.logger)
            routes.append((route.try_it_out_path, try_it_out))
            self._try_it_out_path = route.try_it_out_path
        self._router = self._public_router = None

    def _vetted(
        self, route: tuple[str, ASGIApp], brokers: Sequence[Any] = ()
    ) -> tuple[str, ASGIApp] | None:
        """faststream's try-it-out handler (from a faststream app) becomes ours, or goes.

        faststream's publishes to the real broker on request and answers errors with
        the exception's repr; ours follows this app's switches (off: no route, 404).
        """
        path, app = route
        if not is_faststream_try_it_out(app):
            return route
        brokers = tuple(brokers) or tuple(self.brokers)
        if self.try_it_out and brokers:
            replacement = make_try_it_out_handler(
                brokers, send_to_real_broker=self.try_it_out_real_broker
            )
            self._try_it_out_path = path
            return path, replacement
        log.info("faststream's try-it-out route %s is off (AsgiFastStream(try_it_out=True))", path)
        return None

    def mount(self, path: str, route: ASGIApp, *, internal: bool = False) -> None:
        """Serve ``route`` at ``path`` (an endpoint) or below it (any other ASGI app).

        ``internal=True``: only on an internal bind (404 on the others), and in the
        AsyncAPI schema only with ``docs_internal=True``.
        """
        vetted = self._vetted((path, route))
        if vetted is None:
            return
        path, route = vetted
        if internal:
            self.internal_routes.append((path, route))
            if isinstance(route, HttpHandler):
                # Listed in the AsyncAPI schema only when the docs are internal too.
                if self.docs_internal:
                    self.schema.add_http_route(path, route)
                route.update_fd_config(self.config)
                route.set_logger(self.logger)
        else:
            super().mount(path, route)
        self._router = self._public_router = None

    @property
    def router(self) -> Router:
        """Every route: what an internal bind serves."""
        router = self._router
        if router is None:
            router = self._router = Router([*self.routes, *self.internal_routes])
        return router

    @property
    def public_router(self) -> Router:
        """The routes not marked internal: what every other bind serves."""
        router = self._public_router
        if router is None:
            router = self._public_router = Router(self.routes)
        return router

    def _router_for(self, scope: Scope) -> Router:
        if not self.internal_routes or self.internal_binds.matches(scope):
            return self.router
        return self.public_router

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
        target = self._router_for(scope).resolve_http(route_path(scope), method)
        if target is None:
            await not_found(scope, receive, send)
        elif isinstance(target, Mounted):
            await self._call_mounted(target, scope, receive, send)
        elif isinstance(target, MethodNotAllowed):
            await method_not_allowed(target.allow)(scope, receive, send)
        else:
            # Ours or faststream's: 413/422/500 with fixed bodies, the error logged.
            await answer(target, scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        mounted = self._router_for(scope).resolve_mount(route_path(scope))
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
                self._log_exposure()
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

    def _log_exposure(self) -> None:
        """One line each for what the HTTP side exposes beyond the app's own routes."""
        if self._try_it_out_path is not None:
            where = "internal binds" if self.docs_internal else "every bind"
            if self.try_it_out_real_broker:
                log.warning(
                    "AsyncAPI try-it-out is on at POST %s (%s) and publishes to the real "
                    "broker: whoever reaches it can put messages on any channel",
                    self._try_it_out_path, where,
                )
            else:
                log.warning(
                    "AsyncAPI try-it-out is on at POST %s (%s), dry runs only: whoever "
                    "reaches it can run the app's subscribers with any payload",
                    self._try_it_out_path, where,
                )
        if self.internal_routes and not self.internal_binds:
            log.warning(
                "internal routes (%s) answer 404: no internal bind is set (internal_binds=, "
                "$%s, or anystream run --internal-bind)",
                _route_paths(self.internal_routes), INTERNAL_BINDS_ENV,
            )
        elif self.internal_routes:
            log.info(
                "internal routes (%s) answer only on %r",
                _route_paths(self.internal_routes), self.internal_binds,
            )

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


def _without_body(send: Send) -> Send:
    """HEAD: pass the headers (Content-Length included), drop the body bytes."""

    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}
        await send(message)

    return head_send
