"""Every Python block of docs/observability.md runs: its app starts against a real
nats-server (asyncio and trio) and each of its routes answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from anystream.asgi import AsgiFastStream
from anystream.testing import NatsServer, lifespan
from tests.helpers import client

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)


def run_block(code: str, page: str, url: str, **replace: str) -> dict[str, Any]:
    code = code.replace("nats://127.0.0.1:4222", url)
    for old, new in replace.items():
        code = code.replace(old, new)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, str(DOCS / page), "exec"), namespace)
    return namespace


def asgi_fast_stream(app: Any) -> AsgiFastStream:
    while not isinstance(app, AsgiFastStream):
        app = app.app  # through the middlewares
    return app


async def check_routes(app: Any) -> list[str]:
    """Start ``app``; GET every endpoint route (POST ones get a body); return the paths."""
    inner = asgi_fast_stream(app)
    paths = []
    async with lifespan(app), client(app) as http:
        for path, handler in inner.routes:
            if "GET" in getattr(handler, "methods", ()):
                response = await http.get(path)
                assert response.status_code == 200, (path, response.text)
            else:
                response = await http.post(path, content=b"x")
                assert response.status_code < 300, (path, response.text)
            paths.append(path)
    return paths


BLOCKS = python_blocks("observability.md")


def test_the_page_has_an_example_per_topic() -> None:
    text = "\n".join(BLOCKS)
    for name in ("make_metrics_asgi", "make_liveness_asgi", "TracingMiddleware",
                 "asyncapi_assets"):
        assert name in text


@pytest.mark.anyio
@pytest.mark.parametrize("index", range(len(BLOCKS)))
async def test_observability_example_runs_and_its_routes_answer(
    index: int, nats_server: NatsServer, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index.js").write_text("// fake\n")
    (assets / "default.min.css").write_text("/* fake */\n")
    namespace = run_block(
        BLOCKS[index], "observability.md", nats_server.url,
        **{'"asyncapi-assets"': repr(str(assets))},
    )
    try:
        paths = await check_routes(namespace["app"])
    finally:
        if "provider" in namespace:
            namespace["provider"].shutdown()  # flush the exporter's thread while stdout is ours
    assert paths
