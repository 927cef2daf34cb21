"""fast_depends' handler call without its generic machinery when a handler has no dependencies.

Every consumed message calls the handler through fast_depends' ``CallModel.asolve``. It is
written for the general case: it drives ``CallModel._solve`` (a generator: place the
arguments, validate them, then receive the response and cast it) in two steps around the
dependency, extra-dependency and custom-field loops, merges a dependency provider, and
``run_async`` asks ``inspect`` again whether the handler is a coroutine function. A handler
with none of those (``async def handle(body: Order) -> None``, the common case) pays for
all of it on every message.

:func:`asolve` is upstream's ``asolve`` for such a *flat* model (no dependencies, no extra
dependencies, no custom fields such as ``Context()``, not a generator): ``_solve``'s steps
as straight-line code (the same argument placement, the same serializer call, the same
response cast and cache), the handler awaited directly when it is a plain coroutine
function. Any other model takes upstream's own ``asolve``. Two shortcuts give what the
general code gives: a handler annotated ``-> None`` that returns ``None`` skips pydantic's
``TypeAdapter(None)`` (which returns its ``None``), and a plain function whose code is a
coroutine's is a coroutine function without asking ``inspect`` (the rest ask it, as
upstream).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack, ExitStack
from functools import partial, wraps
from inspect import CO_COROUTINE, Parameter
from types import FunctionType, NoneType
from typing import Any

from .._contract import (
    Assumption,
    Patch,
    all_of,
    defines,
    original,
    source_has,
    unchanged,
    uses,
)

__all__ = ("ASSUMPTIONS", "PATCHES", "asolve", "run_async")

_MODEL = "fast_depends.core.model:CallModel"
_FD_MODEL = "fast_depends.core.model:"
_FD_UTILS = "fast_depends.utils:"
_FD_USE = "fast_depends.use:"
_EMPTY = Parameter.empty


@functools.cache
def _names() -> tuple[Any, Any, Any, Any]:
    """fast_depends' names the copies read, imported once (not on every call)."""
    from fast_depends.core.model import CallModel
    from fast_depends.utils import is_coroutine_callable, run_in_threadpool

    return is_coroutine_callable, run_in_threadpool, original(_MODEL, "asolve"), CallModel


def _is_coroutine_callable(func: Any) -> bool:
    """fast_depends' ``is_coroutine_callable``, answered at once for a plain function whose
    code is a coroutine's (``inspect.iscoroutinefunction`` is true for it on every Python
    version); everything else is asked as upstream asks it."""
    if type(func) is FunctionType and func.__code__.co_flags & CO_COROUTINE:
        return True
    return bool(_names()[0](func))


async def run_async(func: Any, *args: Any, **kwargs: Any) -> Any:
    """fast_depends' ``run_async``: a coroutine callable is awaited, anything else runs in
    the thread pool. Upstream also evaluated ``typing.cast(Callable[P, Awaitable[T]],
    func)`` on every call (a generic alias built at run time, for the type checker only)."""
    if _is_coroutine_callable(func):
        return await func(*args, **kwargs)
    return await _names()[1](func, *args, **kwargs)


def _returns_none(serializer: Any) -> bool:
    """Whether the serializer's response type is ``None`` (the handler says ``-> None``)."""
    option = getattr(serializer, "response_option", None)
    if not option:
        return False
    field_type = option["return"].field_type
    return field_type is None or field_type is NoneType


def _is_flat(model: Any) -> bool:
    """A model :func:`_solve_flat` calls as upstream would: no dependencies, extra
    dependencies or custom fields, not a generator, fast_depends' own class."""
    return not (
        model.dependencies
        or model.extra_dependencies
        or model.custom_fields
        or model.is_generator
        or type(model) is not _names()[3]  # a subclass may change _solve's steps
    )


async def _solve_flat(
    self: Any, args: tuple[Any, ...], cache_dependencies: dict[Any, Any], kwargs: dict[str, Any]
) -> Any:
    """Upstream's ``asolve`` of a flat model, with ``_solve``'s steps inline.

    A flat model never reads the exit stack (only generator dependencies enter it) nor the
    dependency provider (it has no dependencies to look up), and ``nested`` only changes
    what a generator returns; ``kwargs`` is the call's own dict (``_solve`` pops from it).
    """
    call = self.call
    # _solve, up to its first yield
    if self.use_cache and call in cache_dependencies:
        return cache_dependencies[call]

    kw: dict[str, Any] = {}
    for arg in self.keyword_args:
        if (v := kwargs.pop(arg, _EMPTY)) is not _EMPTY:
            kw[arg] = v

    if self.kwargs_name in self.alias_arguments:
        kw[self.kwargs_name] = kwargs
    else:
        kw.update(kwargs)

    for arg in self.positional_args:
        if arg not in kw:
            if args:
                kw[arg], args = args[0], args[1:]
            else:
                break

    if self.args_name in self.alias_arguments:
        kw[self.args_name] = args
        keyword_args = self.keyword_args
    else:
        keyword_args = self.keyword_args + self.positional_args
        for arg in keyword_args:
            if not args:
                break
            if arg not in kw:  # (upstream also skips dependencies: a flat model has none)
                kw[arg], args = args[0], args[1:]

    # asolve hands ``kw`` back unchanged (no dependencies or custom fields to add): _solve
    # after its first yield
    serializer = self.serializer
    if serializer is not None:
        kw.update(serializer(kw))

    if self.args_name:
        args_ = (*map(kw.pop, self.positional_args), *kw.get(self.args_name, args))
    else:
        args_ = ()

    kwargs_ = {arg: kw.pop(arg) for arg in keyword_args if arg in kw}
    if self.kwargs_name:
        kwargs_.update(kw.get(self.kwargs_name, kw))

    # asolve's call, then _solve after its second yield (not a generator: cast)
    if _is_coroutine_callable(call):
        response = await call(*args_, **kwargs_)
    else:
        response = await _names()[1](call, *args_, **kwargs_)

    if serializer is not None and not (response is None and _returns_none(serializer)):
        response = serializer.response(response)

    if self.use_cache:  # pragma: no branch
        cache_dependencies[call] = response
    return response


async def asolve(
    self: Any,
    /,
    *args: Any,
    stack: Any,
    cache_dependencies: dict[Any, Any],
    nested: bool = False,
    dependency_provider: Any = None,
    **kwargs: Any,
) -> Any:
    """Upstream's ``CallModel.asolve``: :func:`_solve_flat` for a flat model, upstream's
    own code for any other."""
    if _is_flat(self):
        return await _solve_flat(self, args, cache_dependencies, kwargs)
    return await _names()[2](
        self,
        *args,
        stack=stack,
        cache_dependencies=cache_dependencies,
        nested=nested,
        dependency_provider=dependency_provider,
        **kwargs,
    )


def wrap_inject(
    *,
    dependency_provider: Any,
    wrap_model: Callable[[Any], Any],
    extra_dependencies: Sequence[Any],
    serializer_cls: Any,
    cast_result: bool,
    **call_extra: Any,
) -> Callable[..., Any]:
    """Upstream's ``fast_depends.use._wrap_inject`` (what ``inject``/``apply_types`` and
    faststream's handler wrapper are built with), with one change: the wrapper of an async
    function calls a flat model (:func:`_is_flat`, checked per call) without entering an
    ``AsyncExitStack`` it would never use, straight through :func:`_solve_flat`."""
    from fast_depends.core import build_call_model
    from fast_depends.use import solve_async_gen, solve_gen

    def func_wrapper(func: Callable[..., Any], model: Any = None) -> Callable[..., Any]:
        if model is None:
            real_model = wrap_model(
                build_call_model(
                    call=func,
                    extra_dependencies=extra_dependencies,
                    dependency_provider=dependency_provider,
                    serializer_cls=serializer_cls,
                    serialize_result=cast_result,
                )
            )
        else:
            real_model = model

        injected_wrapper: Callable[..., Any]
        if real_model.is_async:
            if real_model.is_generator:
                injected_wrapper = partial(solve_async_gen, real_model)

            else:

                async def injected_wrapper(*args: Any, **kwargs: Any) -> Any:
                    if _is_flat(real_model):
                        return await _solve_flat(real_model, args, {}, call_extra | kwargs)
                    async with AsyncExitStack() as stack:
                        return await real_model.asolve(
                            *args,
                            stack=stack,
                            cache_dependencies={},
                            nested=False,
                            **(call_extra | kwargs),
                        )

        else:
            if real_model.is_generator:
                injected_wrapper = partial(solve_gen, real_model)

            else:

                def injected_wrapper(*args: Any, **kwargs: Any) -> Any:
                    with ExitStack() as stack:
                        return real_model.solve(
                            *args,
                            stack=stack,
                            cache_dependencies={},
                            nested=False,
                            **(call_extra | kwargs),
                        )

        injected_wrapper._fastdepends_call_ = real_model.call  # type: ignore[union-attr]
        return wraps(func)(injected_wrapper)

    return func_wrapper


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "fast_depends' _wrap_inject is the 3.0 code our copy is based on, called by inject "
        "through fast_depends.use's global _wrap_inject",
        all_of(
            unchanged(_FD_USE, "_wrap_inject", "47ce8ed7c1fc505c", copy_in=__name__),
            uses(_FD_USE, "inject", "_wrap_inject"),
        ),
    ),
    Assumption(
        "CallModel.asolve and _solve are the fast_depends 3.0 code our flat-model copy is "
        "based on, and _cast_response only passes a value to serializer.response",
        all_of(
            unchanged(_MODEL, "asolve", "e1146788426685f6", copy_in=__name__),
            unchanged(_MODEL, "_solve", "43ff3133691b4889", copy_in=__name__),
            unchanged(_MODEL, "_cast_response", "d5ade5233f7b8363", copy_in=__name__),
        ),
    ),
    Assumption(
        "CallModel has the attributes the copy reads",
        defines(
            _MODEL,
            "call",
            "dependencies",
            "extra_dependencies",
            "custom_fields",
            "is_generator",
            "use_cache",
            "keyword_args",
            "positional_args",
            "args_name",
            "kwargs_name",
            "alias_arguments",
            "serializer",
        ),
    ),
    Assumption(
        "fast_depends' run_async and is_coroutine_callable are the code our copies are based on",
        all_of(
            unchanged(_FD_UTILS, "run_async", "dd7b74e4ac81b748", copy_in=__name__),
            unchanged(_FD_UTILS, "is_coroutine_callable", "e44c5c35cb52c117", copy_in=__name__),
        ),
    ),
    Assumption(
        "fast_depends' serializers keep the response type in response_option['return'], "
        "and CallModel.asolve calls the module's run_async (patched) for other models",
        all_of(
            source_has(
                "fast_depends.library.serializer:Serializer",
                "__init__",
                '"return": OptionItem(field_name="return", field_type=response_type)',
            ),
            uses(_MODEL, "asolve", "run_async"),
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (
    Patch(_MODEL, "asolve", asolve),
    Patch(_FD_USE, "_wrap_inject", wrap_inject),
    Patch(_FD_MODEL, "run_async", run_async),
)
