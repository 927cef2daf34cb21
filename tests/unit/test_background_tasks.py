"""Background tasks started by plain calls (broker.start) and ended by others (broker.stop)."""

from __future__ import annotations

import logging

import anyio
import pytest

from anystream.runtime.tasks import hosting, spawn

pytestmark = pytest.mark.anyio


async def test_a_task_spawned_with_no_host_runs_after_the_caller_returns() -> None:
    started = anyio.Event()

    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    def start() -> object:  # a plain call, as broker.start() would make it
        return spawn(forever, name="forever")

    task = start()
    with anyio.fail_after(5):
        await started.wait()
    assert not task.done  # type: ignore[attr-defined]
    task.cancel()  # type: ignore[attr-defined]
    with anyio.fail_after(5):
        await task.wait()  # type: ignore[attr-defined]
    assert task.done and task.cancelled  # type: ignore[attr-defined]


async def test_a_hosted_task_belongs_to_the_host_task_group() -> None:
    seen: list[str] = []

    async def work(tag: str) -> None:
        await anyio.sleep(0.01)
        seen.append(tag)

    async with anyio.create_task_group() as tg:
        with hosting(tg):
            spawn(work, "a")
            spawn(work, "b")
        # leaving the task group waits for both: they belong to it
    assert sorted(seen) == ["a", "b"]


async def test_cancelling_a_hosted_task_leaves_the_host_running() -> None:
    async with anyio.create_task_group() as tg:
        with hosting(tg):
            task = spawn(anyio.sleep_forever)
        await anyio.sleep(0.01)
        task.cancel()
        with anyio.fail_after(5):
            await task.wait()
        assert not tg.cancel_scope.cancel_called


@pytest.mark.parametrize("hosted", [True, False], ids=["hosted", "unhosted"])
async def test_a_failing_task_is_logged_and_kept_not_raised_into_the_host(
    hosted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise ValueError("boom")

    caplog.set_level(logging.ERROR, logger="anystream")
    async with anyio.create_task_group() as tg:
        if hosted:
            with hosting(tg):
                task = spawn(broken, name="broken")
        else:
            task = spawn(broken, name="broken")
        with anyio.fail_after(5):
            await task.wait()
    assert isinstance(task.exception, ValueError)
    assert "background task broken failed" in caplog.text


async def test_context_variables_reach_an_unhosted_task() -> None:
    from contextvars import ContextVar

    var: ContextVar[str] = ContextVar("var", default="unset")
    got: list[str] = []

    async def read() -> None:
        got.append(var.get())

    var.set("caller")
    task = spawn(read)
    with anyio.fail_after(5):
        await task.wait()
    assert got == ["caller"]
