"""A served app under bad handlers, bad requests, many probes, and secrets in its URL.

Real nats-server, real server processes (hypercorn trio, hypercorn asyncio, uvicorn).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import httpx
import pytest

from anystream.testing import NatsServer
from tests.e2e.servers import Combo, ServerProcess

from .conftest import Serve
from .support import BACKENDS, SERVERS, Records, publish, rss_kib, worker_pid

pytestmark = pytest.mark.e2e

USER, SECRET = "svc", "t0p-s3cret"
LIMIT = 1024


@pytest.fixture(scope="module")
def js_nats() -> Iterator[NatsServer]:
    """A JetStream server that requires a user and password."""
    with NatsServer(jetstream=True, extra_args=("--user", USER, "--pass", SECRET)) as server:
        yield server


def url_with_password(server: NatsServer) -> str:
    return f"nats://{USER}:{SECRET}@{server.host}:{server.port}"


def error_records(output: str, marker: str) -> int:
    """Log records (not traceback lines) at ERROR level that mention ``marker``."""
    return sum(1 for line in output.splitlines() if "ERROR" in line and marker in line)


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_raising_hanging_and_slow_handlers_do_not_stop_consuming_or_http(
    combo: Combo, serve: Serve, records: Records, js_nats: NatsServer
) -> None:
    url = url_with_password(js_nats)
    server = serve(combo, url, MAX_BODY_SIZE=str(LIMIT))
    with httpx.Client(base_url=server.base_url, timeout=5.0) as http:
        publish(url, "rel.raise", ["r1", "r2"])
        publish(url, "rel.hang", ["h1", "h2"])
        publish(url, "rel.slow", ["s1", "s2", "s3"])
        publish(url, "rel.core", ["c1", "c2"])
        # HTTP answers while the slow and hanging handlers run.
        assert http.get("/health").status_code == 204
        boom = http.get("/boom")
        # Then every subscriber still takes messages.
        publish(url, "rel.raise", ["r3"])
        publish(url, "rel.hang", ["h3"])
        publish(url, "rel.core", ["c3"])
        assert records.wait_for("slow", ["s1", "s2", "s3"], timeout=10.0).total() == 3
        assert records.wait_for("core", ["c1", "c2", "c3"], timeout=10.0).total() == 3
        assert records.wait_for("raise", ["r1", "r2", "r3"], timeout=10.0).total() == 3
        assert records.wait_for("hang", ["h1", "h2", "h3"], timeout=10.0).total() == 3
        time.sleep(HANG_GRACE)
        assert http.get("/health").status_code == 204
    server.terminate()
    output = server.output

    assert boom.status_code == 500
    assert boom.text == "Internal Server Error"
    for ident in ("r1", "r2", "r3"):
        assert error_records(output, f"handler failed on purpose: {ident}") == 1
    assert error_records(output, "TimeoutError") == 3  # one per hanging message
    assert error_records(output, "Exception occurred while processing request") == 1
    assert SECRET not in output


HANG_GRACE = 0.5  # the hanging handler's deadline is 0.2 s


def raw(server: ServerProcess, head: str, body: bytes = b"") -> bytes:
    return server.raw_request(head.replace("\n", "\r\n").encode("latin-1") + body)


@pytest.mark.parametrize("combo", SERVERS, ids=lambda c: c.id)
def test_refused_requests_get_clear_statuses_and_the_worker_keeps_serving(
    combo: Combo, serve: Serve, js_nats: NatsServer
) -> None:
    url = url_with_password(js_nats)
    server = serve(combo, url, MAX_BODY_SIZE=str(LIMIT))
    end = "Host: 127.0.0.1\nConnection: close\n\n"
    with httpx.Client(base_url=server.base_url, timeout=5.0) as http:
        wrong = http.post("/health")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD")
        assert http.get("/nowhere").status_code == 404
        assert http.post("/echo", content=b"x" * (LIMIT + 1)).status_code == 413
        chunked = http.post("/echo", content=iter([b"[" + b"1," * LIMIT, b"1]"]))
        assert chunked.status_code == 413
        assert http.post("/echo", content=b"{oops").status_code == 422
        assert http.post("/echo", content=b"\xff\xfe").status_code == 422
        assert http.post("/echo", json={"a": [1, 2]}).json() == {"a": [1, 2]}
        docs_html = http.get("/docs")
        assert docs_html.status_code == 200
        docs_json = http.get("/docs.json")
        assert docs_json.status_code == 200

        # Raw bytes no client library would send.
        assert b" 204 " in raw(server, "GET /health?q=%ff%fe HTTP/1.1\n" + end)[:20]
        assert b" 200 " in raw(server, "GET /docs.json?q=%ff HTTP/1.1\n" + end)[:20]
        # A raw non-ASCII byte in the target: the server's HTTP parser refuses it.
        assert b" 400 " in raw(server, "GET /health?r=\xe9 HTTP/1.1\n" + end)[:20]
        upgrade = raw(
            server,
            "GET /health HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n"
            "Host: 127.0.0.1\n\n",
        )
        assert b" 101 " not in upgrade[:20]  # refused: 403 (server) or closed before accept
        assert http.get("/health").status_code == 204
    assert server.proc is not None and server.proc.poll() is None  # still running
    server.terminate()

    for text in (docs_html.text, docs_json.text, server.output):
        assert SECRET not in text
        assert f"{USER}:" not in text
    assert "Traceback" not in wrong.text


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_a_thousand_concurrent_probes_share_few_round_trips_while_consuming(
    combo: Combo, serve: Serve, records: Records, js_nats: NatsServer
) -> None:
    url = url_with_password(js_nats)
    # hypercorn's listen backlog is 100 (uvicorn's 2048): 1,000 simultaneous connects
    # would overflow it and some would be reset. Size it as for production.
    extra = () if combo.is_uvicorn else ("--backlog", "2048")
    server = serve(combo, url, HEALTH_TIMEOUT="5.0", extra_args=extra)
    before = httpx.get(server.base_url + "/round-trips").json()["round_trips"]
    publish(url, "rel.core", [f"c{i}" for i in range(2000)])  # consuming meanwhile

    statuses = anyio.run(probe_many, server.base_url, 1000, backend="asyncio")

    after = httpx.get(server.base_url + "/round-trips").json()["round_trips"]
    print(f"\n[{combo.id}] 1000 probes: {after - before} round trips to NATS")
    assert statuses == {204: 1000}
    assert after - before <= 200  # one per burst of concurrent probes, not one per probe
    assert records.wait_for("core", ["c1999"], timeout=20.0)["c1999"] == 1


async def probe_many(base_url: str, count: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0, limits=limits) as http:

        async def probe() -> None:
            status = (await http.get("/health")).status_code
            statuses[status] = statuses.get(status, 0) + 1

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    tg.start_soon(probe)
    return statuses


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_memory_stays_flat_over_5000_requests_and_5000_messages(
    combo: Combo, serve: Serve, records: Records, js_nats: NatsServer
) -> None:
    url = url_with_password(js_nats)
    server = serve(combo, url)
    assert server.proc is not None
    pid = worker_pid(server.proc.pid)

    def load(n: int, tag: str) -> None:
        publish(url, "rel.core", [f"{tag}{i}" for i in range(n)])
        with httpx.Client(base_url=server.base_url, timeout=5.0) as http:
            for i in range(n):
                http.get("/health" if i % 2 else "/nowhere")
        records.wait_for("core", [f"{tag}{n - 1}"], timeout=30.0)

    load(1000, "w")  # warm-up: imports, caches, pools
    before = rss_kib(pid)
    load(5000, "m")
    after = rss_kib(pid)
    print(f"\n[{combo.id}] RSS before {before} KiB, after 5000+5000: {after} KiB")
    assert len(records.counts("core")) == 6000
    assert after - before < 16 * 1024  # generous: a leak of ~3 KiB per request would show
