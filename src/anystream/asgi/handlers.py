"""HTTP handlers: faststream 0.7's decorators and parameters, with a fast path.

``@get`` / ``@post`` handlers receive ``scope`` and may declare faststream's
``Request``, ``Query`` and ``Header`` parameters; a wrong method answers 405 with
``Allow``; a validation error 422; an exception 500 and a log line.

A handler whose only parameter is ``scope`` (the seed's probes, ``/metrics``-style
routes) has nothing to inject, so it is called directly, without faststream's
dependency-injection wrapper and context scopes: the same behaviour, about a
sixth of the cost per request (see ``benchmarks/dispatch.py``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

from faststream.asgi import Header, HttpHandler, Query, Request
from faststream.asgi.handlers import GetHandler as _GetHandler
from faststream.asgi.handlers import PostHandler as _PostHandler
from faststream.asgi.request import AsgiRequest

from .responses import AsgiResponse, internal_error, method_not_allowed
from .types import Receive, Scope, Send, UserApp

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

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

Tags = Sequence["Tag | TagDict | dict[str, Any]"] | None


def takes_only_scope(func: Callable[..., Any]) -> bool:
    """True for ``async def handler(scope)``: nothing for dependency injection to do."""
    if not inspect.iscoroutinefunction(func):
        return False
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    if len(parameters) != 1:
        return False
    (param,) = parameters
    annotation = param.annotation
    # Annotations that dependency injection would pass through untouched.
    plain = (
        annotation in (inspect.Parameter.empty, Any, "Any")
        or "Scope" in str(annotation)
        or "MutableMapping" in str(annotation)
    )
    return (
        plain
        and param.default is inspect.Parameter.empty
        and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
    )


class _FastPath(HttpHandler):
    """Calls scope-only handlers directly; everything else goes through faststream."""

    _direct: Callable[[Scope], Any] | None = None

    def _init_fast_path(self, func: UserApp) -> None:
        self._direct = func if takes_only_scope(func) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self._direct
        if direct is None:
            await super().__call__(scope, receive, send)
            return
        if scope["method"] not in self.methods:
            response: AsgiResponse = method_not_allowed(self.methods)
        else:
            try:
                response = await direct(scope)
            except Exception:
                if self.logger is not None:
                    self.logger.log(
                        logging.ERROR, "Exception occurred while processing request", exc_info=True
                    )
                response = internal_error
        await response(scope, receive, send)


class GetHandler(_FastPath, _GetHandler):
    """``GET`` and ``HEAD``."""

    def __init__(
        self,
        func: UserApp,
        *,
        include_in_schema: bool = True,
        description: str | None = None,
        tags: Tags = None,
        unique_id: str | None = None,
    ) -> None:
        super().__init__(
            func,
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )
        self._init_fast_path(func)


class PostHandler(_FastPath, _PostHandler):
    """``POST`` (and ``HEAD``, as in faststream)."""

    def __init__(
        self,
        func: UserApp,
        *,
        include_in_schema: bool = True,
        description: str | None = None,
        tags: Tags = None,
        unique_id: str | None = None,
    ) -> None:
        super().__init__(
            func,
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )
        self._init_fast_path(func)


@overload
def get(
    func: UserApp,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Tags = None,
    unique_id: str | None = None,
) -> GetHandler: ...


@overload
def get(
    func: None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Tags = None,
    unique_id: str | None = None,
) -> Callable[[UserApp], GetHandler]: ...


def get(
    func: UserApp | None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Tags = None,
    unique_id: str | None = None,
) -> GetHandler | Callable[[UserApp], GetHandler]:
    """Declare a ``GET`` (and ``HEAD``) handler: ``@get`` or ``@get(description=...)``."""

    def decorator(inner: UserApp) -> GetHandler:
        return GetHandler(
            inner,
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )

    return decorator if func is None else decorator(func)


@overload
def post(
    func: UserApp,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Tags = None,
    unique_id: str | None = None,
) -> PostHandler: ...


@overload
def post(
    func: None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Tags = None,
    unique_id: str | None = None,
) -> Callable[[UserApp], PostHandler]: ...


def post(
    func: UserApp | None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Tags = None,
    unique_id: str | None = None,
) -> PostHandler | Callable[[UserApp], PostHandler]:
    """Declare a ``POST`` handler: ``@post`` or ``@post(description=...)``."""

    def decorator(inner: UserApp) -> PostHandler:
        return PostHandler(
            inner,
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )

    return decorator if func is None else decorator(func)
