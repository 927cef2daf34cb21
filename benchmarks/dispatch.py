"""In-process dispatch cost: anystream's AsgiFastStream vs faststream's, per request.

No server and no sockets: the ASGI callable is awaited directly, so the figure is the
framework's own cost per request (routing, handler call, response messages). Run:

    python benchmarks/dispatch.py [--requests 20000] [--backend asyncio|trio]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import anyio
from faststream.asgi import AsgiFastStream as FaststreamApp
from faststream.asgi import AsgiResponse as FaststreamResponse
from faststream.asgi import get as faststream_get

from anystream.asgi import AsgiFastStream, AsgiResponse, get


def build(kind: str) -> Any:
    if kind == "faststream":

        @faststream_get
        async def trivial(scope: Any) -> FaststreamResponse:
            return FaststreamResponse(b"ok")

        return FaststreamApp(asgi_routes=[(f"/r{i}", trivial) for i in range(10)])

    @get
    async def trivial_ours(scope: Any) -> AsgiResponse:
        return AsgiResponse(b"ok")

    return AsgiFastStream(asgi_routes=[(f"/r{i}", trivial_ours) for i in range(10)])


async def measure(app: Any, path: str, requests: int) -> float:
    scope = {
        "type": "http", "method": "GET", "path": path, "root_path": "",
        "headers": [], "query_string": b"",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(200):  # warm-up
        await app(dict(scope), receive, send)
    start = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / requests * 1e6


async def main(requests: int) -> dict[str, float]:
    results = {}
    for kind in ("faststream", "anystream"):
        app = build(kind)
        results[f"{kind} route (us)"] = round(await measure(app, "/r9", requests), 2)
        results[f"{kind} 404 (us)"] = round(await measure(app, "/missing", requests), 2)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    figures = anyio.run(main, args.requests, backend=args.backend)
    print(json.dumps({"backend": args.backend, **figures}, indent=2))
