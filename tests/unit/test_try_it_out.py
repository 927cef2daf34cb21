"""The AsyncAPI try-it-out endpoint: off by default, dry runs unless told otherwise.

In-process (httpx's ASGI transport), on asyncio and trio, with the app's lifespan
running against a real nats-server; an outside nats-py client checks what reached
the broker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import sniffio
from faststream.nats import NatsBroker, TestNatsBroker
from pydantic import BaseModel

import anystream.nats
from anystream.asgi import AsgiFastStream, AsyncAPIRoute
from anystream.testing import lifespan
from tests.helpers import client, publish_from_outside, wait_until

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-in-the-handler-error"


def form(channel: str, payload: Any, *, real: bool = False) -> dict[str, Any]:
    return {
        "channelName": channel,
        "message": {"operation_id": "op", "operation_type": "receive", "message": payload},
        "options": {"sendToRealBroker": real},
    }


def make_app(url: str, subject: str, **options: Any) -> tuple[AsgiFastStream, list[Any]]:
    broker = NatsBroker(url)
    handled: list[Any] = []
    handled_on: list[str] = []
    broker.handled_on = handled_on  # type: ignore[attr-defined]

    @broker.subscriber(subject)
    async def on_message(body: dict[str, Any]) -> dict[str, Any]:
        # Runs where the broker's subscribers run: NATS is native, so on the app's own
        # backend (trio APIs work in a trio app's handlers).
        handled_on.append(sniffio.current_async_library())
        if body.get("fail"):
            raise RuntimeError(SECRET)
        handled.append(body)
        return {"accepted": body}

    return AsgiFastStream(broker, asyncapi_path="/docs", **options), handled


@asynccontextmanager
async def outside(url: str, subject: str) -> AsyncIterator[list[bytes]]:
    """What an independent NATS client (anystream's own, on either backend) sees."""
    seen: list[bytes] = []
    async with anystream.nats.connect(url) as nc:
        sub = await nc.subscribe(subject)
        await nc.flush()
        yield seen
        await anyio.sleep(0.3)  # anything published has had time to arrive
        while True:
            try:
                seen.append((await sub.next_msg(timeout=0.05)).data)
            except anystream.nats.NatsTimeoutError:
                break


async def test_try_it_out_is_off_by_default(nats_url: str, subject: str) -> None:
    app, handled = make_app(nats_url, subject)
    assert app.try_it_out_path is None
    async with lifespan(app), client(app) as http, outside(nats_url, subject) as seen:
        real = await http.post("/docs/try", json=form(subject, {"n": 1}, real=True))
        dry = await http.post("/docs/try", json=form(subject, {"n": 2}))
        page = await http.get("/docs")
    assert (real.status_code, dry.status_code) == (404, 404)
    assert page.status_code == 200  # the docs page works without it
    assert "/docs/try" not in page.text
    assert seen == [] and handled == []


async def test_dry_runs_answer_with_the_subscribers_reply_and_publish_nothing(
    nats_url: str, subject: str
) -> None:
    app, handled = make_app(nats_url, subject, try_it_out=True)
    assert app.try_it_out_path == "/docs/try"
    async with lifespan(app), client(app) as http:
        async with outside(nats_url, subject) as seen:
            for n in (1, 2):  # the second call works too (faststream on trio: SetupError)
                reply = await http.post("/docs/try", json=form(subject, {"n": n}))
                assert (reply.status_code, reply.json()) == (200, {"accepted": {"n": n}})
            refused = await http.post("/docs/try", json=form(subject, {"n": 3}, real=True))
            page = await http.get("/docs")
        assert seen == []  # nothing reached the broker
        assert handled == [{"n": 1}, {"n": 2}]
        # The live app still consumes real messages after the dry runs.
        await publish_from_outside(nats_url, subject, b'{"n": 4}')
        await wait_until(lambda: handled[-1:] == [{"n": 4}])
    # Dry runs ran on the same backend as the real delivery.
    on = app.brokers[0].handled_on  # type: ignore[attr-defined]
    assert on == [sniffio.current_async_library()] * 3
    assert refused.status_code == 403
    assert "real broker" in refused.json()["details"]
    assert "/docs/try" in page.text


async def test_the_real_broker_switch_publishes_through_the_running_broker(
    nats_url: str, subject: str
) -> None:
    app, handled = make_app(nats_url, subject, try_it_out=True, try_it_out_real_broker=True)
    async with lifespan(app), client(app) as http, outside(nats_url, subject) as seen:
        sent = await http.post("/docs/try", json=form(subject, {"n": 7}, real=True))
        await wait_until(lambda: handled == [{"n": 7}])  # the app consumed it
    assert (sent.status_code, sent.json()) == (200, "ok")
    assert [json.loads(m) for m in seen] == [{"n": 7}]


def test_the_real_broker_switch_alone_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="try_it_out_real_broker=True needs try_it_out=True"):
        AsgiFastStream(NatsBroker(), asyncapi_path="/docs", try_it_out_real_broker=True)


async def test_errors_carry_no_exception_text(
    nats_url: str, subject: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(nats_url, subject, try_it_out=True)
    async with lifespan(app), client(app) as http:
        failing = await http.post("/docs/try", json=form(subject, {"fail": True}))
        malformed = await http.post("/docs/try", content=b"{not json")
        wrong_shape = await http.post("/docs/try", json=[1, 2])
        no_channel = await http.post("/docs/try", json={"message": {}})
        too_large = await http.post("/docs/try", content=b"[" + b"1," * 1_048_576 + b"1]")
    assert (failing.status_code, failing.json()) == (500, {"details": "Internal Server Error"})
    assert (malformed.status_code, malformed.text) == (422, "Malformed JSON body")
    assert wrong_shape.status_code == 400
    assert (no_channel.status_code, no_channel.json()) == (400, {"details": "Missing channelName"})
    assert too_large.status_code == 413
    for response in (failing, malformed, wrong_shape, no_channel, too_large):
        assert SECRET not in response.text
        assert "Error(" not in response.text and "Traceback" not in response.text
    assert any(SECRET in (r.exc_text or "") for r in caplog.records)  # logged instead


async def test_start_up_logs_one_line_when_it_is_on(
    nats_url: str, subject: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="anystream")
    for options, expected in [
        ({}, None),
        ({"try_it_out": True}, "dry runs only"),
        ({"try_it_out": True, "try_it_out_real_broker": True}, "publishes to the real broker"),
    ]:
        caplog.clear()
        app, _ = make_app(nats_url, subject, **options)
        async with lifespan(app):
            pass
        lines = [r.getMessage() for r in caplog.records if "try-it-out" in r.getMessage()]
        if expected is None:
            assert lines == []
        else:
            assert len(lines) == 1 and expected in lines[0], lines


async def test_dry_runs_work_under_faststreams_test_broker_twice(subject: str) -> None:
    # No lifespan: the user's tests wrap the app in TestNatsBroker, on asyncio or trio.
    app, handled = make_app("nats://127.0.0.1:1", subject, try_it_out=True)
    async with TestNatsBroker(app.broker), client(app) as http:
        for n in (1, 2):
            reply = await http.post("/docs/try", json=form(subject, {"n": n}))
            assert (reply.status_code, reply.json()) == (200, {"accepted": {"n": n}})
    assert handled == [{"n": 1}, {"n": 2}]


async def test_a_custom_route_path_is_honoured(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    route = AsyncAPIRoute("/api/docs", try_it_out_path="/api/try")
    app = AsgiFastStream(broker, asyncapi_path=route, try_it_out=True)
    async with client(app) as http:
        assert (await http.post("/api/try", json={"message": {}})).status_code == 400
        assert (await http.post("/api/docs/try", json={})).status_code == 404


def test_faststreams_test_broker_lookup_finds_the_nats_test_broker() -> None:
    # Dry runs use faststream's private find_test_broker, through the adapter (its
    # contract: tests/adapters/test_contracts.py).
    from anystream._adapters.faststream import find_test_broker

    assert find_test_broker(NatsBroker()) is TestNatsBroker


async def test_a_faststream_apps_try_it_out_route_is_off_when_anystream_serves_it(
    nats_url: str, subject: str
) -> None:
    # What `anystream run` does with a faststream AsgiFastStream app.
    from faststream.asgi import AsgiFastStream as FaststreamAsgi

    from anystream.cli._appload import as_asgi

    broker = NatsBroker(nats_url)
    handled: list[Any] = []

    @broker.subscriber(subject)
    async def on_message(body: Any) -> None:
        handled.append(body)

    app = as_asgi(FaststreamAsgi(broker, asyncapi_path="/docs"), "main:app")
    async with lifespan(app), client(app) as http, outside(nats_url, subject) as seen:
        response = await http.post("/docs/try", json=form(subject, {"n": 1}, real=True))
        assert (await http.get("/docs")).status_code == 200
    assert response.status_code == 404
    assert seen == [] and handled == []


async def test_faststreams_own_try_it_out_handler_follows_the_apps_switches(
    nats_url: str, subject: str
) -> None:
    from faststream.asgi.factories import make_try_it_out_handler as faststream_handler

    broker = NatsBroker(nats_url)

    @broker.subscriber(subject)
    async def on_message(body: Any) -> Any:
        return body

    route = ("/try", faststream_handler([broker]))
    off = AsgiFastStream(broker, asgi_routes=[route])
    on = AsgiFastStream(broker, asgi_routes=[route], try_it_out=True)
    async with lifespan(on), client(off) as off_http, client(on) as on_http:
        assert (await off_http.post("/try", json=form(subject, 1))).status_code == 404
        assert (await on_http.post("/try", json=form(subject, 1))).json() == 1
        assert (await on_http.post("/try", json=form(subject, 1, real=True))).status_code == 403
    assert on.try_it_out_path == "/try"


def test_faststreams_try_it_out_handler_is_recognised() -> None:
    # Contract: faststream's HttpHandler keeps its function as `_HttpHandler__original_func`.
    from faststream.asgi.factories import make_try_it_out_handler as faststream_handler

    from anystream.asgi._try_it_out import is_faststream_try_it_out, make_try_it_out_handler

    assert is_faststream_try_it_out(faststream_handler([NatsBroker()]))
    assert not is_faststream_try_it_out(make_try_it_out_handler([NatsBroker()]))


class Order(BaseModel):
    id: int


async def test_a_payload_the_subscriber_refuses_gets_422(subject: str) -> None:
    broker = NatsBroker("nats://127.0.0.1:1")

    @broker.subscriber(subject)
    async def on_order(order: Order) -> int:
        return order.id

    app = AsgiFastStream(broker, asyncapi_path="/docs", try_it_out=True)
    async with TestNatsBroker(broker), client(app) as http:
        refused = await http.post("/docs/try", json=form(subject, {"id": "not a number"}))
        accepted = await http.post("/docs/try", json=form(subject, {"id": 5}))
    assert refused.status_code == 422
    assert refused.json() == {"details": "the message does not match what the subscriber takes"}
    assert accepted.json() == 5


async def test_real_sends_go_only_to_subjects_the_app_declares(nats_url: str, subject: str) -> None:
    app, handled = make_app(nats_url, subject, try_it_out=True, try_it_out_real_broker=True)
    undeclared = subject + ".elsewhere"
    async with lifespan(app), client(app) as http, outside(nats_url, undeclared) as seen:
        response = await http.post("/docs/try", json=form(undeclared, {"n": 1}, real=True))
    assert (response.status_code, response.json()) == (404, {"details": "destination not found"})
    assert seen == [] and handled == []


async def test_concurrent_dry_runs_all_answer_and_leave_the_live_app_consuming(
    nats_url: str, subject: str
) -> None:
    app, handled = make_app(nats_url, subject, try_it_out=True)
    statuses: list[int] = []
    async with lifespan(app), client(app) as http:

        async def dry_run(n: int) -> None:
            response = await http.post("/docs/try", json=form(subject, {"n": n}))
            statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon(dry_run, n)
        await publish_from_outside(nats_url, subject, b'{"n": "real"}')
        await wait_until(lambda: {"n": "real"} in handled)
    assert statuses == [200] * 10
