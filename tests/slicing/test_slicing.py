"""Consumer time-slicing: HTTP keeps answering while a backlog is consumed.

Every test uses a real nats-server and runs on asyncio and trio. They check order
of events (was a request answered before the backlog drained?), never latency.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse
from anystream.slicing import DEFAULT_CONSUME_BUDGET, install, slicer_for, stats
from anystream.testing import lifespan
from tests.helpers import _publish_blocking, publish_from_outside, wait_until

pytestmark = pytest.mark.anyio

BACKLOG = 200


def _spin(seconds: float) -> None:
    """CPU work that never suspends, like parsing and business logic."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _backlog_app(
    nats_url: str, subject: str, *, work: float, **app_options: Any
) -> tuple[AsgiFastStream, NatsBroker, dict[str, Any]]:
    """An app whose first message waits until the whole backlog sits in the client queue
    (and the test watches).

    Then the consumer has ``BACKLOG - 1`` messages ready and nothing to wait for: the
    case where, without slicing, it never gives the event loop back until done.
    ``GET /progress`` answers how many messages were handled when it ran.
    """
    broker = NatsBroker(nats_url, logger=None)
    state: dict[str, Any] = {"handled": 0, "gate_open": False, "watching": False}
    sub = broker.subscriber(subject)

    @sub
    async def handle(body: int) -> None:
        if not state["gate_open"]:
            with anyio.fail_after(10):
                while not state["watching"] or (
                    sub.subscription is None or sub.subscription.pending_msgs < BACKLOG - 1
                ):
                    await anyio.sleep(0.01)
            state["gate_open"] = True
        _spin(work)
        state["handled"] += 1

    async def progress(scope: Any, receive: Any, send: Any) -> None:
        await AsgiResponse(str(state["handled"]).encode(), 200)(scope, receive, send)

    app = AsgiFastStream(broker, asgi_routes=[("/progress", progress)], **app_options)
    return app, broker, state


async def _get(app: AsgiFastStream, path: str) -> tuple[int, bytes]:
    """One HTTP GET straight through the ASGI interface, as a server would call it."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


async def _progress_once_backlog_is_queued(
    nats_url: str, subject: str, app: AsgiFastStream, state: dict[str, Any]
) -> int:
    async with lifespan(app):
        await publish_from_outside(nats_url, subject, *(b"%d" % i for i in range(BACKLOG)))
        state["watching"] = True
        with anyio.fail_after(10):
            while not state["gate_open"]:
                await anyio.lowlevel.checkpoint()
        status, body = await _get(app, "/progress")
        assert status == 200
        await wait_until(lambda: state["handled"] == BACKLOG, timeout=20)
    return int(body)


async def test_http_is_answered_before_the_backlog_is_drained(
    nats_url: str, subject: str
) -> None:
    # Default budget (5 ms), 2 ms of work per message: a yield every few messages.
    app, broker, state = _backlog_app(nats_url, subject, work=0.002)
    assert app.consume_budget == DEFAULT_CONSUME_BUDGET

    handled_when_answered = await _progress_once_backlog_is_queued(
        nats_url, subject, app, state
    )

    assert handled_when_answered < BACKLOG // 2
    assert stats(broker).consumed == BACKLOG
    assert stats(broker).yields > 0


async def test_slicing_off_leaves_the_yields_to_the_client(nats_url: str, subject: str) -> None:
    # With slicing disabled anystream never yields; anystream.nats' subscriptions still
    # hand the loop back every few dozen messages (nats-py's never did: the request
    # waited for the whole backlog).
    app, broker, state = _backlog_app(nats_url, subject, work=0.0005, consume_budget=None)

    handled_when_answered = await _progress_once_backlog_is_queued(
        nats_url, subject, app, state
    )

    assert handled_when_answered < BACKLOG
    assert stats(broker).yields == 0


async def test_budget_is_honoured_yields_happen_only_once_it_is_spent(
    nats_url: str, subject: str
) -> None:
    # A budget far above the whole backlog's work: the consumer never needs to yield.
    app, broker, state = _backlog_app(nats_url, subject, work=0.0001, consume_budget=60.0)

    handled_when_answered = await _progress_once_backlog_is_queued(
        nats_url, subject, app, state
    )

    assert handled_when_answered > 0
    assert stats(broker).yields == 0
    assert stats(broker).consumed == BACKLOG


async def test_zero_budget_yields_before_every_message(nats_url: str, subject: str) -> None:
    app, broker, state = _backlog_app(nats_url, subject, work=0.0, consume_budget=0)

    handled_when_answered = await _progress_once_backlog_is_queued(
        nats_url, subject, app, state
    )

    assert handled_when_answered < BACKLOG // 2
    assert stats(broker).yields == BACKLOG


def test_a_negative_budget_is_refused() -> None:
    from anystream.slicing import TimeSlicer

    with pytest.raises(ValueError, match="consume budget"):
        TimeSlicer(-1.0)


async def test_slow_consumer_drops_are_counted_and_logged_once(
    nats_url: str, subject: str, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 10
    broker = NatsBroker(nats_url, logger=None)
    handled: list[int] = []
    sub = broker.subscriber(subject, pending_msgs_limit=limit)

    @sub
    async def handle(body: int) -> None:
        if not handled:
            # Hold the first message until the client has queued what it can and
            # dropped the rest.
            with anyio.fail_after(10):
                while stats(broker).slow_consumer_dropped < BACKLOG - 2 * limit:
                    await anyio.sleep(0.01)
        handled.append(body)

    app = AsgiFastStream(broker)
    with caplog.at_level(logging.WARNING, logger="anystream.slicing"):
        async with lifespan(app):
            await publish_from_outside(nats_url, subject, *(b"%d" % i for i in range(BACKLOG)))
            # Every message is either handled or dropped; none is lost silently.
            await wait_until(
                lambda: len(handled) + stats(broker).slow_consumer_dropped == BACKLOG
            )

    dropped = stats(broker).slow_consumer_dropped
    assert dropped >= BACKLOG - 2 * limit
    assert len(handled) <= 2 * limit
    assert stats(broker).slow_consumer_by_subject == {subject: dropped}
    assert stats(broker).as_dict()["slow_consumer_dropped"] == dropped
    # Once per interval, not once per message: the first drop, then the rest at stop.
    lines = [r.getMessage() for r in caplog.records if r.name == "anystream.slicing"]
    assert 1 <= len(lines) <= 2
    assert "slow consumer" in lines[0]
    assert f"{dropped} in total" in lines[-1]



async def test_shutdown_with_a_backlog_finishes_in_flight_work_and_completes(
    nats_url: str, subject: str
) -> None:
    broker = NatsBroker(nats_url, logger=None)
    started: list[int] = []
    finished: list[int] = []

    @broker.subscriber(subject)
    async def handle(body: int) -> None:
        started.append(body)
        await anyio.sleep(0.02)  # slow: the backlog would take 20 s to drain
        finished.append(body)

    app = AsgiFastStream(broker, shutdown_timeout=10.0)
    total = 1000
    with anyio.fail_after(30):
        # `lifespan` raises LifespanFailed if the app reports lifespan.shutdown.failed.
        async with lifespan(app):
            await publish_from_outside(nats_url, subject, *(b"%d" % i for i in range(total)))
            await wait_until(lambda: len(started) >= 3)

    assert len(finished) < total  # it stopped taking new messages
    assert finished == started  # and the one in flight was finished, not abandoned


def _client_backlog_peak(
    nats_url: str, subject: str, *, backlog_limit: int | None
) -> tuple[NatsBroker, dict[str, Any]]:
    """An app whose handler records the largest client-side queue it saw.

    The first message blocks the event loop (no reads) until a burst published
    from another thread is all on its way, so the burst waits in the socket and
    the server, not in the client, when consumption starts.
    """
    broker = NatsBroker(nats_url, logger=None)
    state: dict[str, Any] = {"handled": 0, "peak": 0, "published": threading.Event()}
    sub = broker.subscriber(subject)

    @sub
    async def handle(body: bytes) -> None:
        deadline = time.monotonic() + 10
        while not state["published"].is_set():
            assert time.monotonic() < deadline, "the burst was not published"
            time.sleep(0.001)  # noqa: ASYNC251 - blocks the loop on purpose: no reads
        assert sub.subscription is not None
        state["peak"] = max(state["peak"], sub.subscription.pending_msgs)
        _spin(0.001)  # slower than a 16 KiB read per event-loop turn brings in
        state["handled"] += 1

    slicer = install(broker)  # the runtime keeps this slicer
    slicer.backlog_limit = backlog_limit
    slicer.read_bytes = 65536  # reads well ahead of the handler while under the limit
    return broker, state


# Read pacing is for nats-py connections only (anystream.nats paces its own reader): a
# broker the app gets already connected with nats-py, which exists on asyncio only. Its
# reads are paced on every asyncio loop: uvloop too (its socket reads cannot be sized).
every_loop = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="asyncio+uvloop"),
    ],
)

PACED_MESSAGES = 400
PACED_PAYLOAD = b"x" * 4000  # 1.6 MB in all: far more than one 256 KiB socket read


async def _consume_a_burst(nats_url: str, subject: str, broker: NatsBroker,
                           state: dict[str, Any]) -> None:
    def publish() -> None:
        try:
            _publish_blocking(nats_url, subject, [PACED_PAYLOAD] * PACED_MESSAGES)
        finally:
            state["published"].set()

    await broker.connect()  # with nats-py: anystream does not replace a live connection
    async with lifespan(AsgiFastStream(broker)):
        publisher = threading.Thread(target=publish)
        publisher.start()
        try:
            await wait_until(lambda: state["handled"] == PACED_MESSAGES, timeout=30)
        finally:
            publisher.join(10)


@every_loop
async def test_over_the_backlog_limit_the_server_holds_the_excess(
    nats_url: str, subject: str
) -> None:
    # With a backlog in the client, socket reads shrink to a trickle: the client
    # does not parse (and queue) what it cannot handle yet.
    broker, state = _client_backlog_peak(nats_url, subject, backlog_limit=8)

    await _consume_a_burst(nats_url, subject, broker, state)

    slicer = slicer_for(broker)
    assert slicer is not None
    assert stats(broker).held_reads > 0, (state, stats(broker))  # reads were held back
    assert state["peak"] < PACED_MESSAGES * 2 // 5, state
    assert stats(broker).consumed == PACED_MESSAGES
    assert stats(broker).slow_consumer_dropped == 0


@every_loop
async def test_without_a_backlog_limit_the_client_queues_everything_it_reads(
    nats_url: str, subject: str
) -> None:
    # The comparison: each yield lets the reader parse a full socket read.
    broker, state = _client_backlog_peak(nats_url, subject, backlog_limit=None)

    await _consume_a_burst(nats_url, subject, broker, state)

    assert stats(broker).held_reads == 0
    assert stats(broker).yields > 0
    assert state["peak"] > PACED_MESSAGES * 3 // 5, state


@every_loop
async def test_reads_return_to_full_size_once_the_backlog_is_gone(
    nats_url: str, subject: str
) -> None:
    broker, state = _client_backlog_peak(nats_url, subject, backlog_limit=8)

    await _consume_a_burst(nats_url, subject, broker, state)

    slicer = slicer_for(broker)
    assert slicer is not None and stats(broker).held_reads > 0
    # The last messages were handled with the queue under the limit.
    assert not slicer.trickling


def test_a_backlog_limit_below_one_is_refused() -> None:
    from anystream.slicing import TimeSlicer

    with pytest.raises(ValueError, match="backlog limit"):
        TimeSlicer(backlog_limit=0)
