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
from anystream.broker import DEFAULT_CONSUME_BUDGET, stats
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
    from anystream.broker._slicing import TimeSlicer

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


def _client_backlog_peak(nats_url: str, subject: str) -> tuple[NatsBroker, dict[str, Any]]:
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
        _spin(0.0005)  # slower than the reader brings messages in
        state["handled"] += 1

    return broker, state


PACED_MESSAGES = 2000
PACED_PAYLOAD = b"x" * 4000  # 8 MB in all: far more than the client's backlog limit


async def test_a_backlog_waits_in_the_server_not_in_the_client(
    nats_url: str, subject: str
) -> None:
    # anystream.nats paces its own reader: once its subscriptions hold its backlog limit
    # (512 messages by default) it reads small pieces, so the burst waits in the server
    # (TCP backpressure) instead of being parsed into the client's queue.
    broker, state = _client_backlog_peak(nats_url, subject)

    def publish() -> None:
        try:
            _publish_blocking(nats_url, subject, [PACED_PAYLOAD] * PACED_MESSAGES)
        finally:
            state["published"].set()

    async with lifespan(AsgiFastStream(broker)):
        publisher = threading.Thread(target=publish)
        publisher.start()
        try:
            await wait_until(lambda: state["handled"] == PACED_MESSAGES, timeout=60)
        finally:
            publisher.join(10)

    assert state["peak"] < PACED_MESSAGES // 2, state
    assert stats(broker).consumed == PACED_MESSAGES
    assert stats(broker).slow_consumer_dropped == 0
