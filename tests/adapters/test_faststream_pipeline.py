"""faststream's per-message pipeline without exit stacks: middlewares, context and errors
behave as faststream's ``process_message`` makes them behave.

Each test consumes real messages through ``anystream.nats.NatsBroker`` (the adapted
``process_message``) with middlewares of the user's that record what they see.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import anyio
import pytest
from faststream import BaseMiddleware, Context
from faststream.exceptions import NackMessage

from anystream._adapters._contract import original
from anystream._adapters.faststream import _pipeline
from anystream.nats import NatsBroker

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("adapted")]

TIMEOUT = 10.0


def recording(name: str, trace: list[str], *, suppress: bool = False) -> type[BaseMiddleware]:
    class Recorder(BaseMiddleware):
        async def on_receive(self) -> None:
            trace.append(f"{name} enter")

        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            trace.append(f"{name} consume")
            try:
                return await call_next(msg)
            finally:
                trace.append(f"{name} consume done")

        async def after_processed(
            self,
            exc_type: type[BaseException] | None = None,
            exc_val: BaseException | None = None,
            exc_tb: TracebackType | None = None,
        ) -> bool:
            # the message's context is still set while the middlewares exit
            log_context = self.context.get_local("log_context", {})
            seen = exc_type.__name__ if exc_type else None
            trace.append(f"{name} exit {seen} {sorted(log_context)}")
            return suppress

    return Recorder


async def _consume_one(broker: NatsBroker, subject: str, trace: list[str], last: str) -> None:
    async with broker:
        await broker.start()
        await broker.publish("hello", subject)
        with anyio.move_on_after(TIMEOUT):  # the assertion after it says what was seen
            while not trace or trace[-1] != last:
                await anyio.sleep(0.01)


async def test_middlewares_enter_in_order_wrap_the_handler_and_exit_in_reverse(
    nats_url: str, subject: str
) -> None:
    trace: list[str] = []
    broker = NatsBroker(
        nats_url, middlewares=[recording("outer", trace), recording("inner", trace)]
    )

    @broker.subscriber(subject)
    async def handler(body: str, message: Any = Context()) -> None:
        trace.append(f"handler {body} {message.correlation_id is not None}")

    await _consume_one(
        broker, subject, trace, "outer exit None ['message_id', 'queue', 'stream', 'subject']"
    )

    assert trace == [
        "outer enter",
        "inner enter",
        "outer consume",
        "inner consume",
        "handler hello True",
        "inner consume done",
        "outer consume done",
        "inner exit None ['message_id', 'queue', 'stream', 'subject']",
        "outer exit None ['message_id', 'queue', 'stream', 'subject']",
    ]


async def test_a_failing_handler_s_exception_reaches_every_middleware(
    nats_url: str, subject: str
) -> None:
    trace: list[str] = []
    broker = NatsBroker(
        nats_url, middlewares=[recording("outer", trace), recording("inner", trace)]
    )

    @broker.subscriber(subject)
    async def handler(body: str) -> None:
        raise ValueError(body)

    await _consume_one(
        broker, subject, trace, "outer exit ValueError ['message_id', 'queue', 'stream', 'subject']"
    )

    assert trace[-2:] == [
        "inner exit ValueError ['message_id', 'queue', 'stream', 'subject']",
        "outer exit ValueError ['message_id', 'queue', 'stream', 'subject']",
    ]


async def test_a_middleware_that_suppresses_the_exception_hides_it_from_the_outer_ones(
    nats_url: str, subject: str
) -> None:
    trace: list[str] = []
    broker = NatsBroker(
        nats_url,
        middlewares=[recording("outer", trace), recording("inner", trace, suppress=True)],
    )

    @broker.subscriber(subject)
    async def handler(body: str) -> None:
        raise ValueError(body)

    await _consume_one(
        broker, subject, trace, "outer exit None ['message_id', 'queue', 'stream', 'subject']"
    )

    assert trace[-2:] == [
        "inner exit ValueError ['message_id', 'queue', 'stream', 'subject']",
        "outer exit None ['message_id', 'queue', 'stream', 'subject']",
    ]


def test_process_message_is_the_adapted_one() -> None:
    usecase = "faststream._internal.endpoint.subscriber.usecase:SubscriberUsecase"
    from faststream._internal.endpoint.subscriber.usecase import SubscriberUsecase

    assert SubscriberUsecase.process_message is _pipeline.process_message
    assert original(usecase, "process_message") is not _pipeline.process_message


async def test_each_message_goes_to_the_first_handler_whose_filter_takes_it(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url)
    handled: list[str] = []
    subscriber = broker.subscriber(subject)

    @subscriber(filter=lambda msg: msg.content_type == "application/json")
    async def json_handler(body: dict[str, str]) -> None:
        handled.append(f"json {body['n']}")

    @subscriber
    async def any_handler(body: str) -> None:
        handled.append(f"other {body}")

    async with broker:
        await broker.start()
        await broker.publish({"n": "1"}, subject)
        await broker.publish("2", subject)
        with anyio.fail_after(TIMEOUT):
            while len(handled) < 2:
                await anyio.sleep(0.01)

    assert handled == ["json 1", "other 2"]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str, bool, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message_id = getattr(record, "message_id", "")
        self.lines.append(
            (record.levelname, record.getMessage(), record.exc_info is not None, message_id)
        )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, [("INFO", "Received", False), ("INFO", "Processed", False)]),
        (
            ValueError("boom"),
            [
                ("INFO", "Received", False),
                ("ERROR", "ValueError: boom", True),
                ("INFO", "Processed", False),
            ],
        ),
        (
            NackMessage(),
            [
                ("INFO", "Received", False),
                ("INFO", str(NackMessage()), False),
                ("INFO", "Processed", False),
            ],
        ),
    ],
    ids=["ok", "error", "ignored"],
)
async def test_the_access_log_has_received_the_error_and_processed_with_the_message_context(
    nats_url: str, subject: str, error: Exception | None, expected: list[tuple[str, str, bool]]
) -> None:
    logger = logging.getLogger(f"test.access.{subject}")
    logger.setLevel(logging.INFO)
    lines = _Lines()
    logger.addHandler(lines)
    broker = NatsBroker(nats_url, logger=logger)

    @broker.subscriber(subject)
    async def handler(body: str) -> None:
        if error is not None:
            raise error

    async with broker:
        await broker.start()
        await broker.publish("hello", subject)
        with anyio.move_on_after(TIMEOUT):  # the assertion after it says what was seen
            while len([line for line in lines.lines if line[1] == "Processed"]) < 1:
                await anyio.sleep(0.01)

    per_message = [line for line in lines.lines if line[3]]  # lines with a message id
    assert [line[:3] for line in per_message] == expected
