"""The ASGI side of anystream: ``from anystream.asgi import ...`` for ``faststream.asgi``."""

from typing import TYPE_CHECKING, Any

from faststream.asgi.factories import AsyncAPIRoute

from ..broker import broker_lifespan
from ._app import AsgiFastStream
from ._asyncapi import make_asyncapi_asgi
from ._handlers import Header, HttpHandler, Query, Request, get, post
from ._responses import AsgiResponse, JSONResponse

__all__ = (
    "AsgiFastStream",
    "AsgiResponse",
    "AsyncAPIRoute",
    "Header",
    "HttpHandler",
    "JSONResponse",
    "Query",
    "Request",
    "broker_lifespan",
    "get",
    "make_asyncapi_asgi",
    "make_ping_asgi",
    "post",
)

if TYPE_CHECKING:
    from ..health import make_ping_asgi


def __getattr__(name: str) -> Any:
    # make_ping_asgi lives in anystream.health, which builds on this package; it is
    # imported on first use, so the two packages import one way (health -> asgi).
    if name == "make_ping_asgi":
        from ..health import make_ping_asgi

        return make_ping_asgi
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
