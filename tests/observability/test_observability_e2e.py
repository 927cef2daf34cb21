"""examples/observability.py under real servers (hypercorn's trio worker, uvicorn).

Real processes end to end: a nats-server, the ASGI server running the example,
an outside nats-py publisher and an httpx client. Spans are read from the JSON
lines file the example writes (``SPANS_FILE``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from anystream.asgi._assets import ASSETS_ENV
from anystream.testing import NatsServer
from tests.e2e.servers import (
    HYPERCORN_TRIO,
    UVICORN,
    Combo,
    ServerProcess,
    eventually,
    server_starter,
)
from tests.helpers import _publish_blocking

from .helpers import sample
from .test_offline_docs import _links

pytestmark = pytest.mark.e2e

APP = "examples.observability:app"
COMBOS = [pytest.param(c, id=c.id) for c in (HYPERCORN_TRIO, UVICORN)]


@pytest.fixture
def nats() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


@pytest.fixture
def serve(tmp_path: Path, nats: NatsServer) -> Iterator[Any]:
    with server_starter(tmp_path) as start:

        def serve_example(combo: Combo, **env: str) -> ServerProcess:
            server = start(combo, APP, nats_url=nats.url, wait=False, **env)
            server.wait_ready("/health/live")
            return server

        yield serve_example


def _spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("combo", COMBOS)
def test_example_counts_messages_traces_requests_and_serves_offline_docs(
    combo: Combo, serve: Any, nats: NatsServer, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index.js").write_text("window.AsyncApiStandalone = {render() {}};\n")
    (assets / "default.min.css").write_text("body { margin: 0 }\n")
    spans_file = tmp_path / "spans.jsonl"
    server = serve(combo, SPANS_FILE=str(spans_file), **{ASSETS_ENV: str(assets)})

    with server.client() as http:
        assert eventually(lambda: http.get("/health/ready").status_code == 200, timeout=10)

        def received() -> float | None:
            return sample(http.get("/metrics").text, "faststream_received_messages_total",
                          handler="orders.in")

        assert received() is None
        _publish_blocking(nats.url, "orders.in", [b"order-%d" % i for i in range(5)])
        assert eventually(lambda: received() == 5, timeout=10), received()

        assert http.post("/orders", content=b"from-http").status_code == 202
        assert eventually(lambda: received() == 6, timeout=10), received()
        text = http.get("/metrics").text
        assert sample(text, "anystream_http_requests_total",
                      method="POST", route="/orders", status="202") == 1
        assert sample(text, "faststream_received_processed_messages_duration_seconds_count",
                      handler="orders.in") == 6

        page = http.get("/docs")
        assert page.status_code == 200
        assert all(not urlsplit(url).netloc for url in _links(page.text))
        assert http.get("/docs?asset=index.js").status_code == 200

    def traced() -> list[dict[str, Any]]:
        spans = _spans(spans_file)
        return [s for s in spans if s["name"] in ("POST /orders", "orders.in process")]

    assert eventually(lambda: len(traced()) == 7, timeout=10), traced()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in traced():
        by_name.setdefault(span["name"], []).append(span)
    (request,) = by_name["POST /orders"]
    assert len(by_name["orders.in process"]) == 6
    # The message the request published was processed in the request's trace.
    same_trace = [s for s in by_name["orders.in process"]
                  if s["context"]["trace_id"] == request["context"]["trace_id"]]
    assert len(same_trace) == 1
    # Probes and scrapes make no spans.
    assert not [s for s in _spans(spans_file) if "/health" in s["name"] or "/metrics" in s["name"]]


@pytest.mark.parametrize("combo", COMBOS)
def test_liveness_answers_while_nats_is_down_but_readiness_does_not(
    combo: Combo, serve: Any, nats: NatsServer
) -> None:
    server = serve(combo)
    with server.client() as http:
        assert eventually(lambda: http.get("/health/ready").status_code == 200, timeout=10)

        nats.stop()
        assert eventually(lambda: http.get("/health/ready").status_code == 503, timeout=10)
        live = http.get("/health/live")
        assert (live.status_code, live.text) == (200, "alive\n")
        assert "no answer to a ping" in http.get("/health/ready").text

        nats.start()
        assert eventually(lambda: http.get("/health/ready").status_code == 200, timeout=15)
        assert http.get("/health/live").status_code == 200
    server.terminate()
    assert "FastStream app shut down gracefully." in server.output
