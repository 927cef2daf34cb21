"""Small helpers shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable

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
