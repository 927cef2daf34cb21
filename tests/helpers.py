"""Small helpers shared by the tests: in-process HTTP, hand-made ASGI calls, waiting, publishing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import httpx

from anystream.asgi.types import ASGIApp


def client(app: ASGIApp, root_path: str = "") -> httpx.AsyncClient:
    """An httpx client talking to ``app`` in-process (no server, no lifespan)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, root_path=root_path), base_url="http://test"
    )


async def get_together(app: ASGIApp, path: str, count: int) -> list[int]:
    """``count`` concurrent ``GET path`` requests (a client each); their statuses."""
    statuses: list[int] = []

    async def one() -> None:
        async with client(app) as c:
            statuses.append((await c.get(path)).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one)
    return statuses


async def body_size_app(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app (mounted, as Starlette would be) that reads the whole body.

    It answers 200 with the number of bytes it read.
    """
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def http_scope(
    path: str,
    query: bytes = b"",
    method: str = "GET",
    headers: Sequence[tuple[bytes, bytes]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """An HTTP scope made by hand: the path and query reach the app exactly as written
    (httpx would clean them up); ``extra`` adds keys (``client``, ``server``)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"test"), *headers],
        **extra,
    }


async def call_asgi(app: Any, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Call ``app`` with ``scope`` and an empty body: the status, headers and body it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    head = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], head, b"".join(m.get("body", b"") for m in sent[1:])


async def probe_together(nats_url: str, timeout: float, count: int) -> tuple[list[int], int]:
    """``count`` concurrent ``GET /health`` (a ping of ``timeout`` s) on a served app.

    Their statuses, and the round trips to the server the ping made for them.
    """
    from faststream.nats import NatsBroker

    from anystream.asgi import AsgiFastStream, make_ping_asgi
    from anystream.testing import lifespan

    broker = NatsBroker(nats_url)
    health = make_ping_asgi(broker, timeout=timeout)
    app = AsgiFastStream(broker, asgi_routes=[("/health", health)])
    async with lifespan(app):
        before = health.round_trips
        statuses = await get_together(app, "/health", count)
        made: int = health.round_trips - before
    return statuses, made


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def _publish_blocking(url: str, subject: str, payloads: list[bytes]) -> None:
    import asyncio

    import nats

    async def main() -> None:
        nc = await nats.connect(url)
        try:
            for payload in payloads:
                await nc.publish(subject, payload)
            await nc.flush()
        finally:
            await nc.close()

    asyncio.run(main())


async def publish_from_outside(url: str, subject: str, *payloads: bytes) -> None:
    """Publish with an independent nats-py client, in its own thread and asyncio loop.

    Independent of the test's backend: on trio, nats-py cannot run in the test's
    own loop, and an outside client is what production traffic looks like anyway.
    """
    await anyio.to_thread.run_sync(_publish_blocking, url, subject, list(payloads))
