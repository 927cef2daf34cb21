"""Helpers for the observability tests: an app to observe, Prometheus text, polling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import httpx
from faststream.nats import NatsBroker
from prometheus_client.parser import text_string_to_metric_families

from anystream.asgi import AsgiFastStream, AsgiResponse, get
from anystream.asgi.types import ASGIApp


def hello_and_broken_app(*routes: tuple[str, ASGIApp]) -> AsgiFastStream:
    """An app with ``/hello`` (200), ``/broken`` (raises) and ``routes``; its broker idle."""

    @get
    async def hello(scope: object) -> AsgiResponse:
        return AsgiResponse(b"hello", 200)

    @get
    async def broken(scope: object) -> AsgiResponse:
        raise RuntimeError("boom")

    return AsgiFastStream(
        NatsBroker(), asgi_routes=[("/hello", hello), ("/broken", broken), *routes]
    )


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` whose labels include ``labels``; None if absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


async def poll(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Await ``check()`` until it is true; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(interval)


async def metric(http: httpx.AsyncClient, name: str, **labels: str) -> float | None:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return sample(response.text, name, **labels)
