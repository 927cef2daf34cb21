"""A handler without dependencies is called as fast_depends calls it: the same arguments,
the same validation and errors, the same cast of what it returns.

Each handler below is called through anystream's straight-line ``CallModel.asolve`` and
through fast_depends' own, with the same input; what the handler received and what came
back (or the error raised) must be the same.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fast_depends import Depends
from fast_depends.core import build_call_model
from fast_depends.dependencies import Provider
from fast_depends.exceptions import ValidationError
from fast_depends.pydantic import PydanticSerializer
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from anystream._adapters._contract import original
from anystream._adapters.faststream import _calls

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("adapted")]


class Order(BaseModel):
    sku: str
    qty: int


seen: list[Any] = []


async def takes_a_dict(body: dict) -> None:  # type: ignore[type-arg]
    seen.append(body)


async def takes_a_model(order: Order) -> None:
    seen.append(order)


async def says_none_returns_something(body: dict) -> None:  # type: ignore[type-arg]
    return body  # type: ignore[return-value]


async def returns_a_cast_int(body: dict) -> int:  # type: ignore[type-arg]
    return body["qty"]  # type: ignore[no-any-return]


async def unannotated_return(body: dict):  # type: ignore[no-untyped-def,type-arg]
    return body


async def two_fields(sku: str, qty: int = 1) -> str:
    return f"{sku}x{qty}"


async def star_args(*items: int) -> int:
    return sum(items)


async def star_kwargs(sku: str, **rest: Any) -> dict[str, Any]:
    return {"sku": sku, **rest}


def sync_handler(body: dict) -> int:  # type: ignore[type-arg]
    return len(body)


class CallableObject:
    async def __call__(self, body: dict) -> int:  # type: ignore[type-arg]
        return len(body)


def dependency() -> int:
    return 7


async def with_a_dependency(body: dict, extra: int = Depends(dependency)) -> int:  # type: ignore[type-arg]
    return len(body) + extra


CASES: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (takes_a_dict, ({"sku": "a", "qty": 2},), {}),
    (takes_a_dict, ("not a dict",), {}),
    (takes_a_model, ({"sku": "a", "qty": "3"},), {}),
    (takes_a_model, ({"sku": "a"},), {}),
    (says_none_returns_something, ({"sku": "a"},), {}),
    (returns_a_cast_int, ({"qty": "5"},), {}),
    (returns_a_cast_int, ({"qty": "five"},), {}),
    (unannotated_return, ({"qty": 1},), {}),
    (two_fields, (), {"sku": "a", "qty": "4"}),
    (two_fields, (), {"sku": "a"}),
    (two_fields, ("b",), {}),
    (two_fields, (), {}),
    (star_args, (1, "2", 3), {}),
    (star_kwargs, (), {"sku": "a", "colour": "red"}),
    (sync_handler, ({"a": 1},), {}),
    (CallableObject(), ({"a": 1, "b": 2},), {}),
    (with_a_dependency, ({"a": 1},), {}),
    # faststream calls every handler with its context repository as an extra keyword
    (takes_a_dict, ({"sku": "a"},), {"context__": "the context"}),
    (star_kwargs, (), {"sku": "a", "context__": "the context"}),
]


#: fast_depends' own errors (its default), pydantic's errors (faststream's choice), no casting
SERIALIZERS = {
    "fast_depends-errors": PydanticSerializer(),
    "pydantic-errors": PydanticSerializer(use_fastdepends_errors=False),
    "no-cast": None,
}


async def _settled(call: Callable[[], Any]) -> Any:
    """What ``call()`` (awaited if it gives an awaitable) returned or raised, and what the
    handler saw."""
    seen.clear()
    try:
        result = call()
        if hasattr(result, "__await__"):
            result = await result
    except ValidationError as exc:
        return ("ValidationError", str(exc), str(exc.original_error), list(seen))
    except PydanticValidationError as exc:
        return ("pydantic ValidationError", str(exc), list(seen))
    except TypeError as exc:  # without casting, the handler's own error
        return ("TypeError", str(exc), list(seen))
    return (result, list(seen))


async def _solved(
    solve: Any, call: Any, args: tuple[Any, ...], kwargs: dict[str, Any], serializer: Any
) -> Any:
    model = build_call_model(call, dependency_provider=Provider(), serializer_cls=serializer)

    async def run() -> Any:
        async with AsyncExitStack() as stack:
            return await solve(model, *args, stack=stack, cache_dependencies={}, **dict(kwargs))

    return await _settled(run)


async def _injected(
    wrap_inject: Any, call: Any, args: tuple[Any, ...], kwargs: dict[str, Any], serializer: Any
) -> Any:
    wrapper = wrap_inject(
        dependency_provider=Provider(),
        wrap_model=lambda model: model,
        extra_dependencies=(),
        serializer_cls=serializer,
        cast_result=True,
        context__="the context",
    )(call)
    return await _settled(lambda: wrapper(*args, **kwargs))


every_handler = pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    CASES,
    ids=[f"{getattr(c, '__name__', type(c).__name__)}-{i}" for i, (c, _, _) in enumerate(CASES)],
)
every_serializer = pytest.mark.parametrize("serializer", list(SERIALIZERS))


@every_serializer
@every_handler
async def test_a_handler_gets_and_returns_what_fast_depends_gives_it(
    call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], serializer: str
) -> None:
    upstream = original("fast_depends.core.model:CallModel", "asolve")
    theirs = await _solved(upstream, call, args, kwargs, SERIALIZERS[serializer])
    assert await _solved(_calls.asolve, call, args, kwargs, SERIALIZERS[serializer]) == theirs


@every_serializer
@every_handler
async def test_an_injected_handler_gets_and_returns_what_fast_depends_gives_it(
    call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], serializer: str
) -> None:
    upstream = original("fast_depends.use:", "_wrap_inject")
    ours = _calls.wrap_inject
    theirs = await _injected(upstream, call, args, kwargs, SERIALIZERS[serializer])
    assert await _injected(ours, call, args, kwargs, SERIALIZERS[serializer]) == theirs


def test_handler_calls_go_through_the_adapted_asolve_and_run_async() -> None:
    from fast_depends import use
    from fast_depends.core import model

    assert use._wrap_inject is _calls.wrap_inject
    assert model.CallModel.asolve is _calls.asolve
    assert model.run_async is _calls.run_async
    assert original("fast_depends.core.model:CallModel", "asolve") is not _calls.asolve
