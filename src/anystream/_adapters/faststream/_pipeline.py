"""faststream's per-message pipeline without its per-message exit stacks.

``SubscriberUsecase.process_message`` (every consumed message, every broker) keeps the
lock, the context scopes and the per-message middlewares in an ``AsyncExitStack`` with an
``ExitStack`` inside it: two stack objects, a bound-method wrapper per entered context and
``AsyncExitStack.__aexit__``'s generic unwinding, per message. :func:`process_message` is
the same code with ``with``/``async with`` statements in their place, so Python's own
statements do the unwinding: the same order of entering and leaving, the same exceptions,
a middleware that suppresses an exception still ends the message with an empty response.
And fast_depends' ``run_async`` (every handler call) evaluated ``typing.cast(Callable[P,
Awaitable[T]], func)`` on every call, a generic alias built at run time:
:func:`run_async` is the same without it.
"""

from __future__ import annotations

import functools
from collections import UserList
from itertools import chain
from typing import Any

from .._contract import Assumption, Patch, all_of, defines, unchanged, uses

__all__ = ("ASSUMPTIONS", "PATCHES", "process_message", "run_async")

_USECASE = "faststream._internal.endpoint.subscriber.usecase:SubscriberUsecase"
_FD_MODEL = "fast_depends.core.model:"
_FD_UTILS = "fast_depends.utils:"


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

    The message's context scope is entered here and appended to ``scope``:
    :func:`process_message` leaves it after every middleware has exited (upstream's
    ``message_scope``, reserved under the middlewares).
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
            message_scope = context.scopes(
                (
                    ("log_context", self.get_log_context(message)),
                    ("message", message),
                ),
            )
            message_scope.__enter__()
            scope.append(message_scope)

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
    """
    if index == len(factories):
        return await _handle(self, msg, context, middlewares, scope)
    middleware = factories[index](msg, context=context)
    middlewares.append(middleware)
    async with middleware:
        return await _enter(self, factories, index + 1, msg, context, middlewares, scope)
    return None


async def process_message(self: Any, msg: Any) -> Any:
    """Upstream's ``SubscriberUsecase.process_message`` with statements for its exit stacks.

    Upstream enters, in this order, the subscriber's lock, the context scope (``handler_``,
    ``logger``, the broker's extra context), a reserved ``ExitStack`` for the message's
    scope, and each middleware of ``__build__middlewares_stack()`` (built per message, as
    upstream); the handler runs inside them all and they are left in reverse, with the
    message's scope (``log_context``, ``message``) left after the middlewares. The same
    here: the lock and the scope in one ``with``, the middlewares nested ``async with``
    (:func:`_enter`), the message's scope in a ``finally`` around them. A middleware whose
    ``__aexit__`` returns true suppresses the exception for the ones outside it, and the
    message ends with ``ensure_response(None)``, as upstream.
    """
    context = self._outer_config.context
    logger_state = self._outer_config.logger

    with (
        self.lock,
        # Enter context before middlewares
        context.scopes(
            (
                ("handler_", self),
                ("logger", logger_state.logger.logger),
                *self._outer_config.extra_context.items(),
            ),
        ),
    ):
        scope: list[Any] = []
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
            # middlewares are exited before the message's context scope is released
            for message_scope in scope:
                message_scope.__exit__(None, None, None)

    if result is None:
        # An error was raised and processed by some middleware
        return _names()[1](None)
    return result


async def run_async(func: Any, *args: Any, **kwargs: Any) -> Any:
    """fast_depends' ``run_async`` without ``cast(Callable[P, Awaitable[T]], func)``.

    ``typing.cast`` returns its argument; its first argument, a subscripted
    ``collections.abc.Callable``, was built on every call (every handler call, in
    ``CallModel.asolve``). Same dispatch: a coroutine callable is awaited, anything else
    runs in the thread pool.
    """
    is_coroutine_callable, run_in_threadpool = _fast_depends_names()
    if is_coroutine_callable(func):
        return await func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


@functools.cache
def _fast_depends_names() -> tuple[Any, Any]:
    from fast_depends.utils import is_coroutine_callable, run_in_threadpool

    return is_coroutine_callable, run_in_threadpool


ASSUMPTIONS: tuple[Assumption, ...] = (
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
        "fast_depends' run_async is the code our copy is based on, called by CallModel "
        "through fast_depends.core.model's global run_async",
        all_of(
            unchanged(_FD_UTILS, "run_async", "dd7b74e4ac81b748", copy_in=__name__),
            uses(_FD_MODEL + "CallModel", "asolve", "run_async"),
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (
    Patch(_USECASE, "process_message", process_message),
    Patch(_FD_MODEL, "run_async", run_async),
)
