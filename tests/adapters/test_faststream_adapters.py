"""faststream's asyncio-only internals, adapted by anystream, on asyncio and trio (no server).

The same scenarios against a real nats-server are in test_faststream_on_nats_server.py.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from faststream._internal.context import ContextRepo
from faststream._internal.endpoint.subscriber.utils import MultiLock
from faststream.exceptions import AckMessage, HandlerException, NackMessage, RejectMessage
from faststream.middlewares import AckPolicy
from faststream.middlewares.acknowledgement.middleware import AcknowledgementMiddleware
from faststream.nats import NatsBroker, TestNatsBroker

from anystream._adapters import faststream as adapters
from anystream.runtime.tasks import hosting

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("adapted")]

TASK_TIMEOUT = 5.0


# --- TestNatsBroker (HandlerCallWrapper's call future) -------------------------------


async def test_test_broker_delivers_a_publish_to_the_subscriber(subject: str) -> None:
    broker = NatsBroker()
    seen: list[str] = []

    @broker.subscriber(subject)
    async def handler(name: str) -> None:
        seen.append(name)

    async with TestNatsBroker(broker) as test_broker:
        await test_broker.publish("Ada", subject)

        handler.mock.assert_called_once_with("Ada")
        await handler.wait_call(1)
    assert seen == ["Ada"]


async def test_test_broker_answers_a_request_with_the_handlers_return_value(subject: str) -> None:
    broker = NatsBroker()

    @broker.subscriber(subject)
    async def shout(text: str) -> str:
        return text.upper()

    async with TestNatsBroker(broker) as test_broker:
        response = await test_broker.request("hello", subject)

        assert await response.decode() == "HELLO"
        shout.mock.assert_called_once_with("hello")
        await shout.assert_called_once_with("hello")


async def test_test_broker_wait_call_sees_the_handlers_error(subject: str) -> None:
    broker = NatsBroker()

    @broker.subscriber(subject)
    async def broken(body: str) -> None:
        raise ValueError(f"cannot handle {body}")

    async with TestNatsBroker(broker) as test_broker:
        with pytest.raises(ValueError, match="cannot handle x"):
            await test_broker.publish("x", subject)

        with pytest.raises(ValueError, match="cannot handle x"):
            await broken.wait_call(1)


async def test_test_broker_runs_a_handler_in_the_tests_own_backend(
    subject: str, anyio_backend: tuple[str, dict[str, object]]
) -> None:
    broker = NatsBroker()

    @broker.subscriber(subject)
    async def which() -> str:
        import sniffio

        await anyio.lowlevel.checkpoint()  # a checkpoint of the running backend
        return sniffio.current_async_library()

    async with TestNatsBroker(broker) as test_broker:
        response = await test_broker.request(None, subject)
    assert await response.decode() == anyio_backend[0]


# --- the acknowledgement middleware -------------------------------------------------


class RecordedMessage:
    """Stands for faststream's StreamMessage: records what the middleware settles."""

    def __init__(self) -> None:
        self.settled: list[str] = []

    async def ack(self, **options: Any) -> None:
        self.settled.append("ack")

    async def nack(self, **options: Any) -> None:
        self.settled.append("nack")

    async def reject(self, **options: Any) -> None:
        self.settled.append("reject")


async def settle(policy: AckPolicy, outcome: str) -> list[str]:
    """Run one handler with ``outcome`` through faststream's ack middleware."""
    message = RecordedMessage()
    middleware = AcknowledgementMiddleware(
        logger=None,  # type: ignore[arg-type]
        ack_policy=policy,
        fallback_parser=lambda msg: message,  # type: ignore[arg-type,return-value]
    )(object(), context=ContextRepo())

    with anyio.CancelScope() as scope:

        async def handler(msg: Any) -> None:
            if outcome == "cancelled":
                scope.cancel()
                await anyio.sleep_forever()
            elif outcome == "raises":
                raise ValueError("handler failed")
            elif outcome == "AckMessage":
                raise AckMessage
            elif outcome == "NackMessage":
                raise NackMessage
            elif outcome == "RejectMessage":
                raise RejectMessage

        # what the middleware does not suppress, faststream handles further up
        with suppress(ValueError, HandlerException):
            async with middleware:
                await middleware.consume_scope(handler, message)  # type: ignore[arg-type]

    return message.settled


OUTCOMES = ("returns", "raises", "cancelled", "AckMessage", "NackMessage", "RejectMessage")

# faststream's acknowledgement semantics (what its own code does on asyncio)
SETTLED: dict[tuple[AckPolicy, str], list[str]] = {
    **{(AckPolicy.ACK_FIRST, outcome): ["ack"] for outcome in OUTCOMES},
    **{
        (policy, "AckMessage"): ["ack"]
        for policy in (AckPolicy.ACK, AckPolicy.NACK_ON_ERROR, AckPolicy.REJECT_ON_ERROR)
    },
    **{
        (policy, "NackMessage"): ["nack"]
        for policy in (AckPolicy.ACK, AckPolicy.NACK_ON_ERROR, AckPolicy.REJECT_ON_ERROR)
    },
    **{
        (policy, "RejectMessage"): ["reject"]
        for policy in (AckPolicy.ACK, AckPolicy.NACK_ON_ERROR, AckPolicy.REJECT_ON_ERROR)
    },
    **{
        (policy, "returns"): ["ack"]
        for policy in (AckPolicy.ACK, AckPolicy.NACK_ON_ERROR, AckPolicy.REJECT_ON_ERROR)
    },
    **{
        (policy, "cancelled"): []
        for policy in (AckPolicy.ACK, AckPolicy.NACK_ON_ERROR, AckPolicy.REJECT_ON_ERROR)
    },
    (AckPolicy.ACK, "raises"): ["ack"],
    (AckPolicy.NACK_ON_ERROR, "raises"): ["nack"],
    (AckPolicy.REJECT_ON_ERROR, "raises"): ["reject"],
}


@pytest.mark.parametrize(
    "policy", [AckPolicy.ACK, AckPolicy.NACK_ON_ERROR, AckPolicy.REJECT_ON_ERROR]
)
async def test_a_cancelled_handlers_message_is_neither_acked_nor_nacked_nor_rejected(
    policy: AckPolicy,
) -> None:
    assert await settle(policy, "cancelled") == []


@pytest.mark.parametrize(("policy", "outcome"), sorted(SETTLED, key=str))
async def test_the_ack_middleware_settles_each_outcome_as_faststream_does(
    policy: AckPolicy, outcome: str
) -> None:
    assert await settle(policy, outcome) == SETTLED[(policy, outcome)]


def test_faststreams_own_middleware_settles_the_same_on_asyncio(upstream: None) -> None:
    async def table() -> dict[tuple[AckPolicy, str], list[str]]:
        return {key: await settle(*key) for key in SETTLED}

    assert anyio.run(table, backend="asyncio") == SETTLED


def test_faststreams_own_middleware_still_nacks_a_cancelled_handler_on_trio(upstream: None) -> None:
    # Why the adapter exists: upstream's asyncio.CancelledError check misses trio.Cancelled.
    # When this fails, faststream fixed it: drop the patch.
    async def cancelled() -> list[str]:
        return await settle(AckPolicy.NACK_ON_ERROR, "cancelled")

    assert anyio.run(cancelled, backend="trio") == ["nack"]


class FailingAck(RecordedMessage):
    async def ack(self, **options: Any) -> None:
        raise ConnectionError("ack lost")


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, int, type[BaseException]]] = []

    def log(self, message: str, level: int, exc_info: BaseException) -> None:
        self.lines.append((message, level, type(exc_info)))


async def _ack_that_fails() -> list[tuple[str, int, type[BaseException]]]:
    logger = RecordingLogger()
    message = FailingAck()
    middleware = AcknowledgementMiddleware(
        logger=logger,  # type: ignore[arg-type]
        ack_policy=AckPolicy.REJECT_ON_ERROR,
        fallback_parser=lambda msg: message,  # type: ignore[arg-type,return-value]
    )(object(), context=ContextRepo())

    async def handler(msg: Any) -> None:
        pass

    async with middleware:
        await middleware.consume_scope(handler, message)  # type: ignore[arg-type]
    return logger.lines


async def test_a_failed_ack_is_logged_at_critical_and_the_message_ends_normally() -> None:
    assert await _ack_that_fails() == [
        ("ConnectionError('ack lost')", logging.CRITICAL, ConnectionError)
    ]


def test_faststreams_own_middleware_logs_a_failed_ack_the_same(upstream: None) -> None:
    assert anyio.run(_ack_that_fails, backend="asyncio") == [
        ("ConnectionError('ack lost')", logging.CRITICAL, ConnectionError)
    ]


# --- MultiLock (graceful stop waits for messages in flight) --------------------------


async def test_wait_release_returns_once_the_message_in_flight_is_done() -> None:
    lock = MultiLock()
    events: list[str] = []
    in_flight = anyio.Event()

    async def handle() -> None:
        with lock:
            in_flight.set()
            await anyio.sleep(0.1)
            events.append("handled")

    async with anyio.create_task_group() as tg:
        tg.start_soon(handle)
        await in_flight.wait()
        assert lock.qsize == 1 and not lock.empty
        await lock.wait_release(timeout=10)
        events.append("released")

    assert events == ["handled", "released"]
    assert lock.empty


async def test_wait_release_waits_for_every_message_in_flight() -> None:
    lock = MultiLock()
    handled: list[int] = []
    started = anyio.Event()

    async def handle(n: int, delay: float) -> None:
        with lock:
            if lock.qsize == 3:
                started.set()
            await anyio.sleep(delay)
            handled.append(n)

    async with anyio.create_task_group() as tg:
        for n, delay in enumerate((0.05, 0.15, 0.1)):
            tg.start_soon(handle, n, delay)
        await started.wait()
        await lock.wait_release(timeout=10)
        assert sorted(handled) == [0, 1, 2]


async def test_wait_release_gives_up_at_its_timeout() -> None:
    lock = MultiLock()
    lock.acquire()  # a handler that never finishes

    with anyio.fail_after(TASK_TIMEOUT):
        await lock.wait_release(timeout=0.05)

    assert lock.qsize == 1


async def test_wait_release_without_timeout_does_not_wait_as_upstream() -> None:
    lock = MultiLock()
    lock.acquire()

    with anyio.fail_after(TASK_TIMEOUT):
        await lock.wait_release(None)
        await lock.wait_release(0)


async def test_a_release_without_acquire_is_ignored_as_upstream() -> None:
    lock = MultiLock()
    lock.release()
    assert lock.qsize == 0
    with lock:
        assert lock.qsize == 1
    assert lock.empty


# --- TasksMixin.add_task / stop ------------------------------------------------------


def concurrent_subscriber(broker: NatsBroker, subject: str) -> Any:
    subscriber = broker.subscriber(subject, max_workers=2)

    @subscriber
    async def handler(body: str) -> None: ...

    return subscriber


async def test_stop_cancels_the_tasks_add_task_started_and_waits_for_them(subject: str) -> None:
    broker = NatsBroker()
    subscriber = concurrent_subscriber(broker, subject)
    running = anyio.Event()
    cleaned_up: list[str] = []

    async def consume_loop() -> None:
        try:
            running.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)  # cleanup that takes a moment
            cleaned_up.append("loop")

    async with TestNatsBroker(broker):
        task = subscriber.add_task(consume_loop)
        await running.wait()

        await subscriber.stop()

        assert cleaned_up == ["loop"]
        assert task.done() and task.cancelled() and task.exception() is None
        assert subscriber.tasks == []


async def test_add_task_tasks_belong_to_the_hosting_task_group(subject: str) -> None:
    # Inside anystream's lifespan the consume loops are tasks of its task group.
    broker = NatsBroker()
    subscriber = concurrent_subscriber(broker, subject)
    running = anyio.Event()

    async def consume_loop() -> None:
        running.set()
        await anyio.sleep_forever()

    async with TestNatsBroker(broker):
        with anyio.fail_after(TASK_TIMEOUT):
            async with anyio.create_task_group() as tg:
                with hosting(tg) as host:
                    task = subscriber.add_task(consume_loop)
                    await running.wait()
                    assert [t.name for t in host.tasks] == [task.get_name()]

                    await subscriber.stop()
                    assert task.done() and task.cancelled()


async def test_a_failing_task_is_restarted_by_faststreams_supervisor(subject: str) -> None:
    broker = NatsBroker()
    subscriber = concurrent_subscriber(broker, subject)
    attempts: list[int] = []
    third = anyio.Event()

    async def flaky() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise ValueError("connection lost")
        third.set()
        await anyio.sleep_forever()

    async with TestNatsBroker(broker):
        first = subscriber.add_task(flaky)
        with anyio.fail_after(TASK_TIMEOUT):
            await third.wait()

        assert attempts == [1, 2, 3]
        assert isinstance(first.exception(), ValueError)
        assert not first.cancelled()
        assert len(subscriber.tasks) == 3
        await subscriber.stop()
    assert attempts == [1, 2, 3]


async def test_a_task_without_restart_on_failure_is_not_restarted(subject: str) -> None:
    broker = NatsBroker()
    subscriber = concurrent_subscriber(broker, subject)
    attempts: list[int] = []

    async def once() -> None:
        attempts.append(1)
        raise ValueError("gone")

    async with TestNatsBroker(broker):
        task = subscriber.add_task(once, restart_on_failure=False)
        with anyio.fail_after(TASK_TIMEOUT):
            await task.wait()
        await anyio.sleep(0.05)
        assert attempts == [1]
        await subscriber.stop()


async def test_stop_called_from_inside_a_task_does_not_wait_for_that_task(subject: str) -> None:
    # A handler raising StopConsume makes faststream call stop() from the consume loop.
    broker = NatsBroker()
    subscriber = concurrent_subscriber(broker, subject)
    stopped = anyio.Event()

    async def consume_then_stop() -> None:
        async with anyio.create_task_group() as tg:  # handlers run in a child task

            async def handler() -> None:
                await subscriber.stop()
                stopped.set()

            tg.start_soon(handler)
            await anyio.sleep_forever()

    async with TestNatsBroker(broker):
        task = subscriber.add_task(consume_then_stop)
        with anyio.fail_after(adapters.TASK_STOP_TIMEOUT / 2):
            await task.wait()
        assert task.cancelled()
        assert subscriber.tasks == []


async def test_add_task_passes_positional_and_keyword_arguments(subject: str) -> None:
    # faststream's callers pass args and kwargs separately
    broker = NatsBroker()
    subscriber = concurrent_subscriber(broker, subject)
    got: list[tuple[Any, ...]] = []

    async def record(a: int, *, b: str) -> None:
        got.append((a, b))

    async with TestNatsBroker(broker):
        task = subscriber.add_task(record, (1,), {"b": "x"})
        with anyio.fail_after(TASK_TIMEOUT):
            await task.wait()
        assert got == [(1, "x")]
        await subscriber.stop()
