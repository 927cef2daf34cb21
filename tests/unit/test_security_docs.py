"""docs/security.md: its example app keeps probes, metrics and docs on the internal bind."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from faststream import nats as faststream_nats

from anystream.testing import lifespan
from tests.unit.test_docs_examples import python_blocks

pytestmark = pytest.mark.anyio


def example() -> str:
    (code,) = [c for c in python_blocks("security.md") if "internal_routes" in c]
    return code


async def test_the_example_serves_internal_routes_only_on_the_internal_bind(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class LocalNatsBroker(faststream_nats.NatsBroker):
        def __init__(self, servers: Any = nats_url, **kwargs: Any) -> None:
            super().__init__(servers, **kwargs)

    monkeypatch.setattr(faststream_nats, "NatsBroker", LocalNatsBroker)
    monkeypatch.setenv("ANYSTREAM_INTERNAL_BINDS", "9090")
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(example(), "security.md", "exec"), namespace)
    app = namespace["app"]
    public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pod:8080")
    internal = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pod:9090"
    )
    async with lifespan(app), public, internal:
        assert (await public.post("/orders", json={"id": 1})).status_code == 202
        for path in ("/health/live", "/health/ready", "/metrics", "/docs", "/docs.json"):
            assert (await public.get(path)).status_code == 404, path
            assert (await internal.get(path)).status_code in (200, 204), path
        assert (await public.post("/docs/try", json={})).status_code == 404
