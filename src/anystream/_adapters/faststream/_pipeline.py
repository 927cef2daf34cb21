"""faststream's per-message pipeline without its per-message exit stacks and scope objects.

``SubscriberUsecase.process_message`` (every consumed message, every broker) keeps the
lock, the context scopes and the per-message middlewares in an ``AsyncExitStack`` with an
``ExitStack`` inside it: two stack objects, a bound-method wrapper per entered context and
``AsyncExitStack.__aexit__``'s generic unwinding, per message, and a ``ContextScope`` object
per scope. :func:`process_message` is the same code with ``with``/``async with`` statements
in their place, so Python's own statements do the unwinding: the same order of entering and
leaving, the same exceptions, a middleware that suppresses an exception still ends the
message with an empty response. The scopes' context values are set and reset as a
``ContextScope`` does it, without the object. anystream's own shared middleware objects
(:class:`~._middleware.Shared`, which do nothing per message but an optional ``enter()``)
are neither entered nor wrapped around the handler.

faststream's logging middleware (``_LoggingMiddleware``) logs "Received" and "Processed"
through ``LoggerState.log`` and awaits ``BaseMiddleware.__aexit__`` (a no-op unless
``after_processed`` is overridden): :func:`logging_middleware_consume_scope` and
:func:`logging_middleware_aexit` log the same lines without those calls in between.
"""

from __future__ import annotations

import functools
import logging
from collections import UserList
from itertools import chain
from typing import Any

from .._contract import Assumption, Patch, all_of, defines, unchanged
from ._middleware import Shared

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "logging_middleware_aexit",
    "logging_middleware_consume_scope",
    "process_message",
)

_USECASE = "faststream._internal.endpoint.subscriber.usecase:SubscriberUsecase"
_LOGGING_MIDDLEWARE = "faststream.middlewares.logging:_LoggingMiddleware"
_BASE_MIDDLEWARE = "faststream._internal.middlewares:BaseMiddleware"


@functools.cache
def _names() -> tuple[Any, Any]:
    """faststream's names the copy reads, imported once (not on every message)."""
    from faststream.exceptions import SubscriberNotFound
    from faststream.response.utils import ensure_response

    return SubscriberNotFound, ensure_response


async def _handle(
    self: Any, msg: Any, context: Any, middlewares: list[Any], scope: list[Any]
) -> Any:
    """The body of upstream's ``async with AsyncExitStack()``, after the middlewares.

    The message's context values are set here, their ``(key, token)`` appended to
    ``scope``: :func:`process_message` resets them after every middleware has exited
    (upstream's ``message_scope``, reserved under the middlewares).
    """
    subscriber_not_found, ensure_response = _names()
    cache: dict[Any, Any] = {}
    parsing_error: Exception | None = None
    calls = self.calls
    # CallsCollection is a UserList: iterating it goes through Sequence.__iter__ (an index
    # lookup per item and an IndexError to end); its list gives the same items in order.
    for h in calls.data if isinstance(calls, UserList) else calls:
        try:
            message = await h.is_suitable(msg, cache)
        except Exception as e:
            parsing_error = e
            break

        if message is not None:
            # upstream's context.scopes((("log_context", ...), ("message", message)))
            log_context = self.get_log_context(message)
            scope.append(("log_context", context.set_local("log_context", log_context)))
            scope.append(("message", context.set_local("message", message)))

            result_msg = ensure_response(
                await h.call(
                    message=message,
                    # consumer middlewares
                    _extra_middlewares=(m.consume_scope for m in middlewares[::-1]),
                ),
            )

            if not result_msg.correlation_id:
                result_msg.correlation_id = message.correlation_id

            for p in chain(
                self._SubscriberUsecase__get_response_publisher(message),
                h.handler._publishers,
            ):
                await p._publish(
                    result_msg.as_publish_command(),
                    _extra_middlewares=(m.publish_scope for m in middlewares[::-1]),
                )

            # Return data for tests
            return result_msg

    # Suitable handler was not found or parsing/decoding exception occurred.
    # Reraise it to catch in tests
    if parsing_error:
        raise parsing_error

    error_msg = f"There is no suitable handler for {msg=}"
    raise subscriber_not_found(error_msg)


async def _enter(
    self: Any,
    factories: tuple[Any, ...],
    index: int,
    msg: Any,
    context: Any,
    middlewares: list[Any],
    scope: list[Any],
) -> Any:
    """Enter ``factories[index:]``'s middlewares one inside the other, then handle.

    ``None`` when a middleware suppressed the exception (upstream then returns an empty
    response); the handler's response otherwise (never ``None``: ``ensure_response``).
    anystream's own shared middleware objects (:class:`~._middleware.Shared`: one object
    for every message, whose ``__aexit__`` returns False and whose scopes call straight
    through) are not entered with ``async with`` nor wrapped around the handler: their
    ``enter()``, if any, is awaited where ``__aenter__`` would await it.
    """
    while index < len(factories):
        middleware = factories[index](msg, context=context)
        index += 1
        if type(middleware) is Shared:
            enter = middleware._enter
            if enter is not None:
                await enter()
            continue
        middlewares.append(middleware)
        async with middleware:
            return await _enter(self, factories, index, msg, context, middlewares, scope)
        return None
    return await _handle(self, msg, context, middlewares, scope)


async def process_message(self: Any, msg: Any) -> Any:
    """Upstream's ``SubscriberUsecase.process_message`` with statements for its exit stacks.

    Upstream enters, in this order, the subscriber's lock, the context scope (``handler_``,
    ``logger``, the broker's extra context), a reserved ``ExitStack`` for the message's
    scope, and each middleware of ``__build__middlewares_stack()`` (built per message, as
    upstream); the handler runs inside them all and they are left in reverse, with the
    message's scope (``log_context``, ``message``) left after the middlewares. The same
    here: the lock in a ``with``, the middlewares nested ``async with`` (:func:`_enter`),
    and the context values of both scopes set as a ``ContextScope`` sets them (in order,
    with ``ContextRepo.set_local``) and reset as it resets them (in reverse) in a
    ``finally`` around the middlewares, without a ``ContextScope`` object, a generator
    expression and two method calls per scope. A middleware whose
    ``__aexit__`` returns true suppresses the exception for the ones outside it, and the
    message ends with ``ensure_response(None)``, as upstream.
    """
    context = self._outer_config.context
    logger_state = self._outer_config.logger

    with self.lock:
        # Enter context before middlewares: upstream's context.scopes(...) (a ContextScope
        # sets the values in order and resets them in reverse)
        set_local = context.set_local
        tokens = [
            ("handler_", set_local("handler_", self)),
            ("logger", set_local("logger", logger_state.logger.logger)),
        ]
        for key, value in self._outer_config.extra_context.items():
            tokens.append((key, set_local(key, value)))
        scope: list[tuple[str, Any]] = []
        try:
            result = await _enter(
                self,
                self._SubscriberUsecase__build__middlewares_stack(),
                0,
                msg,
                context,
                [],
                scope,
            )
        finally:
            # middlewares are exited before the message's context scope is released, and
            # that before the subscriber's
            reset_local = context.reset_local
            for key, token in reversed(scope):
                reset_local(key, token)
            for key, token in reversed(tokens):
                reset_local(key, token)

    if result is None:
        # An error was raised and processed by some middleware
        return _names()[1](None)
    return result


# --------------------------------------------------------------------------------------
# faststream's logging middleware: its two lines without the calls in between
# --------------------------------------------------------------------------------------


@functools.cache
def _log_names() -> tuple[Any, Any, Any, Any]:
    from faststream._internal.logger.state import LoggerState
    from faststream._internal.middlewares import BaseMiddleware
    from faststream.exceptions import IgnoredException
    from faststream.message.source_type import SourceType

    return LoggerState, BaseMiddleware, IgnoredException, SourceType.RESPONSE


def _log(state: Any, message: str, extra: Any, level: int | None = None, exc: Any = None) -> None:
    """``state.log(message, level, extra, exc)``: ``LoggerState.log``'s body inline."""
    if type(state) is _log_names()[0]:
        state.logger.log(level or state.log_level, message, extra=extra, exc_info=exc)
    else:
        state.log(message, level, extra=extra, exc_info=exc)


async def logging_middleware_consume_scope(self: Any, call_next: Any, msg: Any) -> Any:
    """Upstream's ``_LoggingMiddleware.consume_scope`` ("Received"), with
    ``LoggerState.log``'s one line inline (it passes the line on to the logger)."""
    source_type = self.source_type = msg.source_type

    if source_type is not _log_names()[3]:
        _log(self.logger, "Received", self.context.get_local("log_context", {}))

    return await call_next(msg)


async def logging_middleware_aexit(
    self: Any,
    exc_type: type[BaseException] | None = None,
    exc_val: BaseException | None = None,
    exc_tb: Any = None,
) -> bool:
    """Upstream's ``_LoggingMiddleware.__aexit__`` ("Processed", a handler's exception),
    with ``LoggerState.log`` inline, and ``BaseMiddleware.__aexit__`` (which awaits
    ``after_processed``) awaited only when ``after_processed`` is not ``BaseMiddleware``'s
    own, which does nothing and returns False (upstream ignores the result)."""
    _, base_middleware, ignored_exception, response = _log_names()
    if self.source_type is not response:
        c = self.context.get_local("log_context", {})

        if exc_type:
            if issubclass(exc_type, ignored_exception):
                _log(self.logger, str(exc_val), c)

            else:
                _log(
                    self.logger,
                    f"{exc_type.__name__}: {exc_val}",
                    c,
                    logging.ERROR,
                    exc_val,
                )

        _log(self.logger, "Processed", c)

    if type(self).after_processed is not base_middleware.after_processed:
        await base_middleware.__aexit__(self, exc_type, exc_val, exc_tb)

    # Exception was not processed
    return False


_CONTEXT = "faststream._internal.context.repository:"

ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "ContextRepo.scopes makes a ContextScope that sets its values with set_local in "
        "order and resets them with reset_local in reverse (0.7.8 code)",
        all_of(
            unchanged(_CONTEXT + "ContextRepo", "scopes", "0d87d9c426829408", copy_in=__name__),
            unchanged(_CONTEXT + "ContextScope", "__enter__", "bbf6c18b05bc4eeb", copy_in=__name__),
            unchanged(_CONTEXT + "ContextScope", "__exit__", "ff210f2bcea498ba", copy_in=__name__),
        ),
    ),
    Assumption(
        "SubscriberUsecase.process_message is the 0.7.8 code our copy is based on",
        unchanged(_USECASE, "process_message", "aa3ed06c328d92ab", copy_in=__name__),
    ),
    Assumption(
        "SubscriberUsecase has the private __build__middlewares_stack and "
        "__get_response_publisher our copy calls",
        defines(
            _USECASE,
            "_SubscriberUsecase__build__middlewares_stack",
            "_SubscriberUsecase__get_response_publisher",
        ),
    ),
    Assumption(
        "LoggerState.log passes (log_level or state.log_level, message, extra, exc_info) "
        "to state.logger.log (0.7.8 code)",
        unchanged(
            "faststream._internal.logger.state:LoggerState",
            "log",
            "8604c24aa25659cc",
            copy_in=__name__,
        ),
    ),
    Assumption(
        "BaseMiddleware.__aexit__ only awaits after_processed, which does nothing by default",
        all_of(
            unchanged(_BASE_MIDDLEWARE, "__aexit__", "f4cac88c8a0af394", copy_in=__name__),
            unchanged(_BASE_MIDDLEWARE, "after_processed", "fbbd67ae89ab2449", copy_in=__name__),
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (
    Patch(_USECASE, "process_message", process_message),
    Patch(_LOGGING_MIDDLEWARE, "consume_scope", logging_middleware_consume_scope),
    Patch(_LOGGING_MIDDLEWARE, "__aexit__", logging_middleware_aexit),
)
