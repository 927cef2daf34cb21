"""faststream's per-message costs cut in the adapter layer: what users see stays the same.

The access log (same text, same stream, every line flushed), the subscriber's subject,
and the correlation ids of messages, each compared with faststream's own code.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from faststream._internal.logger.formatter import ColourizedFormatter
from faststream._internal.logger.logging import get_logger
from faststream.message.message import StreamMessage
from faststream.nats import NatsBroker, NatsRouter

from anystream._adapters import faststream as adapters
from anystream._adapters._contract import original
from anystream._adapters.faststream._logging import (
    FLUSH_INTERVAL,
    CachedTimeFormatter,
    DeferredFlushStreamHandler,
    upgrade,
)

pytestmark = pytest.mark.usefixtures("adapted")

ACCESS_FORMAT = "%(asctime)s %(levelname)-8s - %(subject)s | %(message_id)-10s - %(message)s"


def _record(created: float, level: int = logging.INFO, msg: str = "Received") -> logging.LogRecord:
    record = logging.makeLogRecord(
        {
            "name": "faststream.access.nats",
            "levelno": level,
            "levelname": logging.getLevelName(level),
            "msg": msg,
            "subject": "orders.created",
            "message_id": "771b95e3-2",
        }
    )
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


@pytest.mark.parametrize("use_colors", [True, False])
@pytest.mark.parametrize("datefmt", [None, "%H:%M:%S"])
def test_the_access_log_formatter_writes_what_faststreams_formatter_writes(
    use_colors: bool, datefmt: str | None
) -> None:
    ours = CachedTimeFormatter(fmt=ACCESS_FORMAT, datefmt=datefmt, use_colors=use_colors)
    theirs = ColourizedFormatter(fmt=ACCESS_FORMAT, datefmt=datefmt, use_colors=use_colors)
    start = 1_764_400_000.0
    # the same second twice, then the next seconds; every level, and one without a colour
    moments = [start + 0.001, start + 0.999, start + 1.0, start + 1.5, start + 61.25]
    levels = [logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR, logging.CRITICAL]
    for created in moments:
        for level in levels:
            assert ours.format(_record(created, level)) == theirs.format(_record(created, level))


def _fresh_access_logger(stream: object) -> logging.Logger:
    name = f"faststream.access.test-{uuid.uuid4().hex}"
    return get_logger(name=name, log_level=logging.INFO, stream=stream, fmt=ACCESS_FORMAT)  # type: ignore[arg-type]


def test_a_faststream_logger_writes_its_lines_and_they_reach_the_file_without_more_logging(
    tmp_path: Path,
) -> None:
    path = tmp_path / "access.log"
    with path.open("w") as stream:
        logger = _fresh_access_logger(stream)
        [handler] = logger.handlers
        assert isinstance(handler, DeferredFlushStreamHandler)
        for message_id in ("a1", "b2", "c3"):
            logger.info("Received", extra={"subject": "orders", "message_id": message_id})

        deadline = time.monotonic() + 10 * FLUSH_INTERVAL + 5.0
        while path.read_text().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(FLUSH_INTERVAL / 5)

    lines = path.read_text().splitlines()
    assert [line.split(" - ", 1)[1] for line in lines] == [
        f"orders | {message_id:<10} - Received" for message_id in ("a1", "b2", "c3")
    ]


def test_a_warning_is_on_the_file_as_soon_as_it_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    with path.open("w") as stream:
        logger = _fresh_access_logger(stream)
        logger.info("Received", extra={"subject": "orders", "message_id": "a1"})
        logger.warning("slow", extra={"subject": "orders", "message_id": "a1"})

        text = path.read_text()

    assert "Received" in text
    assert text.rstrip().endswith("- slow")


def test_only_faststreams_own_default_handler_is_upgraded_in_place() -> None:
    users = logging.StreamHandler(sys.stderr)
    users.setFormatter(logging.Formatter("%(message)s"))
    faststreams = logging.StreamHandler(sys.stderr)
    formatter = ColourizedFormatter(fmt=ACCESS_FORMAT, use_colors=True)
    faststreams.setFormatter(formatter)

    assert not upgrade(users)
    assert type(users) is logging.StreamHandler
    assert upgrade(faststreams)
    assert isinstance(faststreams, DeferredFlushStreamHandler)
    assert faststreams.formatter is formatter
    record = _record(1_764_400_000.25)
    reference = ColourizedFormatter(fmt=ACCESS_FORMAT, use_colors=True)
    assert formatter.format(record) == reference.format(_record(1_764_400_000.25))


def test_the_subscriber_subject_is_faststreams_built_once_and_follows_a_router_prefix() -> None:
    broker = NatsBroker()
    router = NatsRouter(prefix="shop.")
    plain = broker.subscriber("orders.{id}")
    prefixed = router.subscriber("orders.{id}")
    broker.include_router(router)
    upstream_subject = original(
        "faststream.nats.subscriber.usecases.basic:LogicSubscriber", "subject"
    ).fget

    for sub in (plain, prefixed):
        ours, theirs = sub.subject, upstream_subject(sub)
        assert (ours.template, ours.broker_address) == (theirs.template, theirs.broker_address)
        assert sub.subject is ours  # one Address, not one per read
    assert plain.subject.broker_address == "orders.*"
    assert prefixed.subject.template == "shop.orders.{id}"


def test_messages_without_a_correlation_id_get_random_uuid4_text() -> None:
    ids = [StreamMessage(None, b"{}").correlation_id for _ in range(2000)]

    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    given = StreamMessage(None, b"{}", correlation_id="given")
    assert (given.correlation_id, given.message_id) == ("given", "given")


def test_uuid4_text_sets_every_bit_but_version_and_variant_at_random() -> None:
    values = [uuid.UUID(adapters.uuid4_text()).int for _ in range(4000)]
    fixed_ones = (0b0100 << 76) | (0b10 << 62)  # version 4 (bits 79-76), variant 10
    fixed_zeros = (0b1011 << 76) | (0b01 << 62)
    seen_ones, seen_zeros = 0, 0
    for value in values:
        assert value & fixed_ones == fixed_ones
        assert value & fixed_zeros == 0
        seen_ones |= value
        seen_zeros |= ~value
    random_bits = ((1 << 128) - 1) & ~(fixed_ones | fixed_zeros)
    assert seen_ones & random_bits == random_bits
    assert seen_zeros & random_bits == random_bits


@pytest.mark.anyio
async def test_a_flushed_log_line_is_not_waited_for_by_the_event_loop(tmp_path: Path) -> None:
    # The flush happens on the flusher thread: logging from a task does not block on it.
    path = tmp_path / "access.log"
    with path.open("w") as stream:
        logger = _fresh_access_logger(stream)
        for n in range(100):
            logger.info("Processed", extra={"subject": "orders", "message_id": str(n)})
            await anyio.lowlevel.checkpoint()
        with anyio.fail_after(10 * FLUSH_INTERVAL + 5.0):
            while path.read_text().count("\n") < 100:
                await anyio.sleep(FLUSH_INTERVAL / 5)
    assert path.read_text().count("Processed") == 100


@pytest.mark.anyio
async def test_max_workers_handles_up_to_that_many_messages_at_once_and_every_one(
    js_url: str, subject: str
) -> None:
    from anystream.nats import NatsBroker as NativeNatsBroker
    from tests.helpers import wait_until

    broker = NativeNatsBroker(js_url, logger=None)
    running = peak = 0
    seen: list[int] = []

    @broker.subscriber(subject, max_workers=3)
    async def slow(body: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.02)
        running -= 1
        seen.append(body)

    async with broker:
        await broker.start()
        for i in range(30):
            await broker.publish(i, subject)
        await wait_until(lambda: len(seen) == 30, timeout=20)

    assert sorted(seen) == list(range(30))
    assert peak == 3


# --- the access-log line written without a LogRecord -----------------------------------


def _access_logger(stream: object, fmt: str = ACCESS_FORMAT) -> logging.Logger:
    from faststream._internal.context.repository import ContextRepo
    from faststream._internal.logger.logging import ExtendedFilter

    logger = get_logger(
        name=f"faststream.access.test-{uuid.uuid4().hex}",
        log_level=logging.INFO,
        stream=stream,  # type: ignore[arg-type]
        fmt=fmt,
    )
    logger.addFilter(ExtendedFilter({"subject": "", "message_id": ""}, 10, ContextRepo()))
    return logger


EXTRA = {"subject": "orders", "queue": "", "stream": "", "message_id": "771b95e3-2a0c-4f"}


def _without_time(text: str) -> list[str]:
    return [line[23:] for line in text.splitlines()]


def test_the_direct_line_is_the_line_the_logging_machinery_writes(tmp_path: Path) -> None:
    from faststream._internal.logger.logger_proxy import RealLoggerObject

    from anystream._adapters.faststream._logging import write_directly

    direct_path, ordinary_path = tmp_path / "direct.log", tmp_path / "ordinary.log"
    with direct_path.open("w") as direct_stream, ordinary_path.open("w") as ordinary_stream:
        direct = _access_logger(direct_stream)
        ordinary = _access_logger(ordinary_stream)
        assert write_directly(direct, logging.INFO, "Received", EXTRA)
        RealLoggerObject(direct).log(logging.INFO, "Processed", extra=EXTRA)
        RealLoggerObject(direct).log(logging.WARNING, "slow", extra={"subject": "x"})
        RealLoggerObject(direct).log(logging.DEBUG, "hidden", extra=EXTRA)
        for level, msg, extra in [
            (logging.INFO, "Received", EXTRA),
            (logging.INFO, "Processed", EXTRA),
            (logging.WARNING, "slow", {"subject": "x"}),
            (logging.DEBUG, "hidden", EXTRA),
        ]:
            ordinary.log(level, msg, extra=extra)
        direct.handlers[0].flush()
        ordinary.handlers[0].flush()

    lines = _without_time(direct_path.read_text())
    assert lines == _without_time(ordinary_path.read_text())
    assert lines == [
        " \x1b[32mINFO\x1b[0m     - orders | 771b95e3-2 - Received",
        " \x1b[32mINFO\x1b[0m     - orders | 771b95e3-2 - Processed",
        " \x1b[33mWARNING\x1b[0m  - x |            - slow",
    ]


def test_a_handler_the_user_adds_to_the_access_logger_gets_every_record(tmp_path: Path) -> None:
    from faststream._internal.logger.logger_proxy import RealLoggerObject

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    with (tmp_path / "access.log").open("w") as stream:
        logger = _access_logger(stream)
        collect = Collect()
        logger.addHandler(collect)
        RealLoggerObject(logger).log(logging.INFO, "Received", extra=EXTRA)
        logger.handlers[0].flush()

    assert [(r.getMessage(), r.subject, r.message_id) for r in collect.records] == [  # type: ignore[attr-defined]
        ("Received", "orders", "771b95e3-2")
    ]
    assert (tmp_path / "access.log").read_text().rstrip().endswith("- Received")


def test_a_format_with_other_record_fields_takes_the_ordinary_path(tmp_path: Path) -> None:
    from anystream._adapters.faststream._logging import write_directly

    with (tmp_path / "access.log").open("w") as stream:
        logger = _access_logger(stream, fmt="%(process)d %(funcName)s %(message)s")
        assert not write_directly(logger, logging.INFO, "Received", EXTRA)
        logger.log(logging.INFO, "Received", extra=EXTRA)
        logger.handlers[0].flush()

    assert (tmp_path / "access.log").read_text().split()[0] == str(__import__("os").getpid())


def test_a_patched_logging_machinery_gets_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faststream._internal.logger.logger_proxy import RealLoggerObject

    captured: list[str] = []
    call_handlers = logging.Logger.callHandlers

    def tracking(self: logging.Logger, record: logging.LogRecord) -> None:
        captured.append(record.getMessage())
        call_handlers(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", tracking)
    with (tmp_path / "access.log").open("w") as stream:
        logger = _access_logger(stream)
        RealLoggerObject(logger).log(logging.INFO, "Received", extra=EXTRA)
        logger.handlers[0].flush()

    assert captured == ["Received"]
    assert (tmp_path / "access.log").read_text().rstrip().endswith("- Received")


def test_the_direct_line_keeps_logrecords_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from anystream._adapters.faststream._logging import _created_msecs

    for now in (1_764_400_000.0, 1_764_400_000.9995, 1_764_400_001.0004, 1_764_400_059.1234):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        monkeypatch.setattr(time, "time_ns", lambda now=now: int(now * 1e9))
        record = logging.makeLogRecord({})
        assert _created_msecs() == (record.created, record.msecs)


@pytest.mark.anyio
async def test_with_logger_none_a_failing_handler_is_still_handled_as_with_faststream(
    js_url: str, subject: str
) -> None:
    from faststream.middlewares.logging import CriticalLogMiddleware, _LoggingMiddleware

    from anystream.nats import NatsBroker as NativeNatsBroker
    from tests.helpers import wait_until

    quiet, logging_broker = NativeNatsBroker(js_url, logger=None), NativeNatsBroker(js_url)
    seen: list[str] = []

    @quiet.subscriber(subject)
    async def handler(body: str) -> None:
        seen.append(body)
        if body == "bad":
            raise ValueError(body)

    async with quiet, logging_broker:
        await quiet.start()
        await logging_broker.connect()
        silent = CriticalLogMiddleware(quiet.config.logger)
        loud = CriticalLogMiddleware(logging_broker.config.logger)
        assert silent(None, context=None) is silent(None, context=None)  # nothing per message
        assert isinstance(loud(None, context=None), _LoggingMiddleware)
        for body in ("bad", "good"):
            await quiet.publish(body, subject)
        await wait_until(lambda: seen == ["bad", "good"], timeout=10)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_worker_flushes_its_own_access_log_lines(tmp_path: Path) -> None:
    # Servers that fork workers (gunicorn) start them with the parent's logging state.
    import os

    path = tmp_path / "access.log"
    with path.open("w") as stream:
        logger = _access_logger(stream)
        logger.info("Received", extra=EXTRA)  # the parent's flusher thread is running
        pid = os.fork()
        if pid == 0:  # the worker: log, and exit without the interpreter's clean-up
            try:
                logger.info("Processed", extra=EXTRA)
                deadline = time.monotonic() + 10 * FLUSH_INTERVAL + 5.0
                while "Processed" not in path.read_text() and time.monotonic() < deadline:
                    time.sleep(FLUSH_INTERVAL / 5)
            finally:
                os._exit(0 if "Processed" in path.read_text() else 1)
        _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    # flushed before the fork: the worker did not write the parent's line again
    assert path.read_text().count("Received") == 1


def test_a_line_that_cannot_be_written_is_reported_as_logging_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faststream._internal.logger.logger_proxy import RealLoggerObject

    stream = (tmp_path / "access.log").open("w")
    logger = _access_logger(stream)
    stream.close()

    RealLoggerObject(logger).log(logging.INFO, "Received", extra=EXTRA)  # does not raise

    assert "--- Logging error ---" in capsys.readouterr().err


def test_a_forked_child_makes_its_own_correlation_ids() -> None:
    adapters.uuid4_text()  # the parent has ids made ahead
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then exit at once
        try:
            os.write(write_end, " ".join(adapters.uuid4_text() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_ids = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent_ids = {adapters.uuid4_text() for _ in range(50)}

    assert len(child_ids) == 50
    assert not child_ids & parent_ids
