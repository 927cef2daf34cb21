"""The ASGI side of anystream: ``from anystream.asgi import ...`` for ``faststream.asgi``."""

from faststream.asgi.factories import AsyncAPIRoute

from ..broker import broker_lifespan
from .app import AsgiFastStream
from .asyncapi import make_asyncapi_asgi
from .handlers import Header, HttpHandler, Query, Request, get, post
from .ping import make_ping_asgi
from .responses import AsgiResponse, JSONResponse

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
