"""The ASGI side of anystream: ``from anystream.asgi import ...`` for ``faststream.asgi``."""

from faststream.asgi.factories import AsyncAPIRoute

from ..health._endpoints import make_ping_asgi
from ..lifespan import broker_lifespan
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
