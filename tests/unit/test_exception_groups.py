"""`unwrap_group`: the error itself out of a task group's exception group of one."""

from __future__ import annotations

import sys

import anyio
import pytest

from anystream._groups import unwrap_group

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

pytestmark = pytest.mark.anyio


async def test_a_task_groups_single_error_comes_out_as_itself() -> None:
    async def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(BaseException) as caught:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fail)
    inner = unwrap_group(caught.value)
    assert type(inner) is KeyError
    assert inner.args == ("missing",)


def test_nested_groups_of_one_are_unwrapped_to_the_innermost_error() -> None:
    error = ValueError("deep")
    assert unwrap_group(ExceptionGroup("outer", [ExceptionGroup("inner", [error])])) is error


def test_a_group_of_several_errors_is_kept_as_it_is() -> None:
    group = ExceptionGroup("two", [ValueError("a"), ExceptionGroup("one", [KeyError("b")])])
    assert unwrap_group(group) is group


def test_an_error_that_is_not_a_group_is_returned_as_it_is() -> None:
    error = RuntimeError("plain")
    assert unwrap_group(error) is error
