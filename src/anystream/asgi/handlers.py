"""HTTP handlers: faststream 0.7's decorators and parameters, unchanged.

``@get`` / ``@post`` handlers receive ``scope`` and may declare faststream's
``Request``, ``Query`` and ``Header`` parameters; a wrong method answers 405 with
``Allow``; a validation error 422; an exception 500 and a log line.
"""

from faststream.asgi import Header, HttpHandler, Query, Request, get, post
from faststream.asgi.handlers import GetHandler, PostHandler
from faststream.asgi.request import AsgiRequest

__all__ = (
    "AsgiRequest",
    "GetHandler",
    "Header",
    "HttpHandler",
    "PostHandler",
    "Query",
    "Request",
    "get",
    "post",
)
