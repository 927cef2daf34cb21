"""``AsgiFastStream``: faststream's ASGI app, with its runtime rebuilt on anyio."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypedDict

from faststream.asgi import AsgiFastStream as _UpstreamAsgiFastStream
from faststream.asgi.factories import AsyncAPIRoute
from faststream.asgi.handlers import HttpHandler
from typing_extensions import Unpack

from .._adapters import faststream as upstream
from ..broker import DEFAULT_CONSUME_BUDGET, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._asyncapi import make_asyncapi_asgi, make_asyncapi_json_asgi
from ._dispatch import serve_http, serve_websocket
from ._lifespan import run_app, serve_lifespan
from ._limits import DEFAULT_MAX_BODY_SIZE
from ._routing import INTERNAL_BINDS_ENV, InternalBinds, Router
from ._try_it_out import is_faststream_try_it_out, make_try_it_out_handler
from .types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from fast_depends import Provider
    from fast_depends.library.serializer import SerializerProto
    from faststream import ContextRepo
    from faststream.specification.base import SpecificationFactory
    from faststream.types import AnyCallable, Lifespan, LoggerProto

    from .._adapters.faststream import BrokerUsecase

__all__ = ("INTERNAL_BINDS_ENV", "AsgiFastStream", "AsgiOptions")

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
        logger: LoggerProto | None = upstream.DEFAULT_LOGGER,
        provider: Provider | None = None,
        serializer: SerializerProto | None = upstream.EMPTY,
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
        upstream.copy_hooks(app, asgi_app)
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
            await serve_http(
                self._router_for(scope), scope, receive, send, max_body_size=self.max_body_size
            )
        elif kind == "lifespan":
            await self.lifespan(scope, receive, send)
        elif kind == "websocket":
            await serve_websocket(self._router_for(scope), scope, receive, send)

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
        async with run_app(self, run_extra_options, state=state):
            yield

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around :meth:`start_lifespan_context`."""
        await serve_lifespan(self, scope, receive, send)
