"""The app the reliability tests serve: consumers that record what they handle.

Configured by environment variables (each test sets what it needs):

- ``NATS_URL``: the broker (may carry ``user:password@``).
- ``RECORD_FILE``: where handlers append one line per event (``<kind> <id>``);
  ``O_APPEND`` writes, so several processes may share the file.
- ``JS_DELAY``: seconds the JetStream handler sleeps before it finishes.
- ``SHUTDOWN_TIMEOUT`` / ``GRACEFUL_TIMEOUT``: anystream's and faststream's stop bounds.
- ``FAIL_ON_STARTUP`` / ``FAIL_ON_SHUTDOWN``: a hook that raises.
- ``MAX_BODY_SIZE``: the request body limit (bytes).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import sniffio
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub

from anystream.asgi import (
    AsgiFastStream,
    AsgiResponse,
    JSONResponse,
    Request,
    get,
    make_ping_asgi,
    post,
)
from anystream.broker import DEFAULT_REDELIVERY_MEMORY

NATS_URL = os.environ["NATS_URL"]
RECORD_FILE = os.environ.get("RECORD_FILE")
JS_DELAY = float(os.environ.get("JS_DELAY", "0"))
HANG_DEADLINE = 0.2

broker = NatsBroker(
    NATS_URL,
    connect_timeout=1,
    reconnect_time_wait=0.1,  # type: ignore[arg-type]
    max_reconnect_attempts=int(os.environ.get("MAX_RECONNECTS", "-1")),
    graceful_timeout=float(os.environ.get("GRACEFUL_TIMEOUT", "15")),
)

STREAM = JStream("RELIABILITY", subjects=["rel.js"])


def record(kind: str, ident: str) -> None:
    if RECORD_FILE is None:
        return
    fd = os.open(RECORD_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {ident} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


@broker.subscriber(
    "rel.js",
    stream=STREAM,
    durable="rel-worker",
    pull_sub=PullSub(batch_size=10),
    # Unacknowledged messages come back after 2 s (JetStream default: 30 s).
    config=ConsumerConfig(ack_wait=2),
)
async def on_jetstream(body: str) -> None:
    record("js-start", body)
    if JS_DELAY:
        await anyio.sleep(JS_DELAY)
    record("js", body)


@broker.subscriber("rel.core")
async def on_core(body: str) -> None:
    record("core", body)


@broker.subscriber("rel.raise")
async def on_raise(body: str) -> None:
    record("raise", body)
    raise ValueError(f"handler failed on purpose: {body}")


@broker.subscriber("rel.hang")
async def on_hang(body: str) -> None:
    record("hang", body)
    with anyio.fail_after(HANG_DEADLINE):
        await anyio.sleep_forever()


@broker.subscriber("rel.trio")
async def on_trio(body: str) -> None:
    # On hypercorn's trio worker the handler runs in trio: trio's own APIs work.
    backend = sniffio.current_async_library()
    if backend == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 0.01)
            nursery.start_soon(trio.sleep, 0.02)
        await trio.sleep(0.01)
    record("trio", f"{body}:{backend}")


@broker.subscriber("rel.slow")
async def on_slow(body: str) -> None:
    await anyio.sleep(0.3)
    record("slow", body)


health = make_ping_asgi(broker, timeout=float(os.environ.get("HEALTH_TIMEOUT", "2.0")))


@get
async def round_trips(scope: Any) -> AsgiResponse:
    return JSONResponse({"round_trips": health.round_trips}, 200)


@get
async def runtime(scope: Any) -> AsgiResponse:
    """How NATS runs in this process (asked by the tests from outside)."""
    return JSONResponse(
        {
            "backend": sniffio.current_async_library(),
            "trio_asyncio": "trio_asyncio" in sys.modules,
            "connections": [type(broker._connection).__module__],
        },
        200,
    )


@post
async def echo(request: Request) -> AsgiResponse:
    return JSONResponse(await request.json(), 200)


@get
async def boom(scope: Any) -> AsgiResponse:
    raise RuntimeError("route failed on purpose")


max_body = os.environ.get("MAX_BODY_SIZE")
app = AsgiFastStream(
    broker,
    asgi_routes=[
        ("/health", health),
        ("/round-trips", round_trips),
        ("/runtime", runtime),
        ("/echo", echo),
        ("/boom", boom),
    ],
    asyncapi_path="/docs",
    shutdown_timeout=float(os.environ.get("SHUTDOWN_TIMEOUT", "30")),
    # Opt in to the redelivery guard: redeliveries of acked messages are not re-run.
    redelivery_memory=DEFAULT_REDELIVERY_MEMORY,
    **({"max_body_size": int(max_body)} if max_body else {}),
)

if os.environ.get("FAIL_ON_STARTUP"):

    @app.on_startup
    async def fail_startup() -> None:
        raise RuntimeError("startup hook failed on purpose")


if os.environ.get("FAIL_ON_SHUTDOWN"):

    @app.on_shutdown
    async def fail_shutdown() -> None:
        raise RuntimeError("shutdown hook failed on purpose")
