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
from types import MethodType
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import parse_qs

from fast_depends.exceptions import ValidationError as FDValidationError
from faststream.asgi import Header, HttpHandler, Query, Request
from faststream.asgi.handlers import GetHandler as _GetHandler
from faststream.asgi.handlers import PostHandler as _PostHandler
from faststream.asgi.request import AsgiRequest

from .._adapters.faststream import set_query_params
from ..exceptions import MalformedJSONError, RequestBodyTooLarge
from ._limits import payload_too_large
from ._responses import AsgiResponse, internal_error, method_not_allowed
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
    "answer",
    "get",
    "post",
)

Tags = Sequence["Tag | TagDict | dict[str, Any]"] | None

_validation_error = AsgiResponse(b"Validation error", 422)
_malformed_json = AsgiResponse(
    b"Malformed JSON body", 422, {"content-type": "text/plain; charset=utf-8"}
)


def new_request(scope: Scope, receive: Receive, send: Send) -> AsgiRequest:
    """The request handlers get: faststream's own ``AsgiRequest``, safe with bad input.

    The very type faststream injects (``type(request) is AsgiRequest``), so code that
    logs or dispatches on it sees no difference; only two of its behaviours change:

    - ``json()`` on a body that is not JSON (or not UTF-8) raises
      :class:`MalformedJSONError` (answered 422), not a bare ``ValueError`` (500).
    - ``query_params`` decodes percent escapes as UTF-8, as Starlette does (bad
      bytes replaced): faststream's ``parse_qs(bytes)`` raises on any non-ASCII
      byte, so ``?q=é`` answered 500.
    """
    request = AsgiRequest(scope, receive, send)
    raw: bytes = scope.get("query_string", b"")
    if raw:
        # AsgiRequest.query_params returns this once set (tests/unit/test_request_type.py).
        set_query_params(request, parse_qs(raw.decode("latin-1")))
    request.json = MethodType(_json_or_malformed, request)  # type: ignore[method-assign]
    return request


async def _json_or_malformed(request: AsgiRequest) -> Any:
    try:
        return await AsgiRequest.json(request)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedJSONError(str(exc)) from exc


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
        if scope["method"] not in self.methods:
            response: AsgiResponse = method_not_allowed(self.methods)
        elif direct is None:
            response = await _call_injected(self, scope, receive, send)
        else:
            try:
                response = await direct(scope)
            except RequestBodyTooLarge:
                response = payload_too_large
            except Exception:
                _log(self, logging.ERROR, "Exception occurred while processing request", True)
                response = internal_error
        await response(scope, receive, send)


async def answer(handler: HttpHandler, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request with ``handler``, anystream's or one built with faststream's ``get``.

    Every handler in an anystream app answers bad input the same way: 413 for a
    body over the limit, 422 for malformed JSON or a validation error, 500 with a
    fixed body (the exception goes to the log) for anything else.
    """
    if isinstance(handler, _FastPath) or type(handler).__call__ is not HttpHandler.__call__:
        # Ours, or a subclass that answers requests its own way.
        await handler(scope, receive, send)
        return
    if scope["method"] not in handler.methods:
        response = method_not_allowed(handler.methods)
    else:
        response = await _call_injected(handler, scope, receive, send)
    await response(scope, receive, send)


async def _call_injected(
    handler: HttpHandler, scope: Scope, receive: Receive, send: Send
) -> AsgiResponse:
    """faststream's handler call, with 413 and 422 for bodies it cannot take."""
    context = handler.fd_config.context
    with (
        context.scope("request", new_request(scope, receive, send)),
        context.scope("logger", handler.logger),
    ):
        try:
            response: AsgiResponse = await handler.func(scope)  # type: ignore[assignment]
        except RequestBodyTooLarge:
            return payload_too_large
        except MalformedJSONError as exc:
            _log(handler, logging.WARNING, f"Malformed JSON body: {exc}", False)
            return _malformed_json
        except FDValidationError:
            _log(handler, logging.ERROR, "Validation error", True)
            return _validation_error
        except Exception:
            _log(handler, logging.ERROR, "Exception occurred while processing request", True)
            return internal_error
    return response


def _log(handler: HttpHandler, level: int, message: str, exc_info: bool) -> None:
    if handler.logger is not None:
        handler.logger.log(level, message, exc_info=exc_info)


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
