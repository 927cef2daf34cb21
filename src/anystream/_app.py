"""``anystream.FastStream``: faststream's app whose ``as_asgi`` returns anystream's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream import FastStream as _UpstreamFastStream
from faststream.asgi.factories import AsyncAPIRoute
from typing_extensions import Unpack

from .asgi._app import AsgiFastStream, AsgiOptions
from .asgi.types import ASGIApp
from .broker import DEFAULT_SHUTDOWN_TIMEOUT

__all__ = ("FastStream",)


class FastStream(_UpstreamFastStream):
    """faststream's ``FastStream``; ``as_asgi()`` gives an anyio-based :class:`AsgiFastStream`.

    Its NATS brokers connect with anystream's own client (:mod:`anystream.nats`), on
    asyncio and trio alike, however the app is run.
    """

    def add_broker(self, broker: Any) -> None:
        super().add_broker(broker)
        from .nats.broker import adopt

        adopt(broker)

    def as_asgi(  # type: ignore[override]
        self,
        asgi_routes: Sequence[tuple[str, ASGIApp]] = (),
        asyncapi_path: str | AsyncAPIRoute | None = None,
        *,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        **options: Unpack[AsgiOptions],
    ) -> AsgiFastStream:
        """This app served over ASGI, with :class:`AsgiFastStream`'s options.

        An unknown keyword (a typo) raises ``TypeError``, as any Python call would.
        """
        return AsgiFastStream.from_app(
            self,
            asgi_routes=asgi_routes,
            asyncapi_path=asyncapi_path,
            shutdown_timeout=shutdown_timeout,
            **options,
        )
