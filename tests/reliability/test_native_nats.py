"""NATS on anystream's own client under real servers: trio handlers, SIGTERM with a backlog.

hypercorn's trio worker (trio) and uvicorn (asyncio), a real ``nats-server -js``. The
app reports from inside the server process that ``trio_asyncio`` was never imported.
"""

from __future__ import annotations

import httpx
import pytest

from anystream.testing import NatsServer
from tests.e2e.servers import HYPERCORN_TRIO, Combo, expected_exit

from .conftest import Serve
from .support import BACKENDS, Records, backend_of, publish

pytestmark = pytest.mark.e2e


def runtime(server_url: str) -> dict[str, object]:
    report: dict[str, object] = httpx.get(f"{server_url}/runtime", timeout=5.0).json()
    return report


def test_on_the_trio_worker_handlers_run_in_trio_with_nurseries_and_no_asyncio(
    serve: Serve, records: Records
) -> None:
    with NatsServer(jetstream=True) as nats_server:
        server = serve(HYPERCORN_TRIO, nats_server.url)
        publish(nats_server.url, "rel.trio", ["t1", "t2"])
        counts = records.wait_for("trio", ["t1:trio", "t2:trio"], timeout=10.0)
        assert counts == {"t1:trio": 1, "t2:trio": 1}
        assert runtime(server.base_url) == {
            "backend": "trio",
            "trio_asyncio": False,
            "connections": ["anystream.nats.compat.client"],
        }
        assert server.terminate() == expected_exit(HYPERCORN_TRIO)


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_sigterm_with_a_jetstream_backlog_loses_nothing(
    combo: Combo, serve: Serve, records: Records
) -> None:
    total = 300
    ids = [f"b{i}" for i in range(total)]
    with NatsServer(jetstream=True) as nats_server:
        # 10 ms per message: a backlog of ~3 s, cut short by SIGTERM.
        server = serve(combo, nats_server.url, JS_DELAY="0.01", GRACEFUL_TIMEOUT="5")
        assert runtime(server.base_url)["backend"] == backend_of(combo)
        assert runtime(server.base_url)["trio_asyncio"] is False
        publish(nats_server.url, "rel.js", ids, jetstream=True)
        records.wait_for("js", ids[:30], timeout=15.0)

        assert server.terminate(timeout=20.0) == expected_exit(combo)
        handled_first = set(records.counts("js"))
        assert 30 <= len(handled_first) < total, "SIGTERM came after the backlog was gone"
        started = set(records.counts("js-start"))
        assert started == handled_first, "a handler was cut short at shutdown"

        # A new instance of the durable consumer gets everything that was not acked.
        serve(combo, nats_server.url)
        counts = records.wait_for("js", ids, timeout=30.0)
        assert set(ids) <= counts.keys(), f"lost: {sorted(set(ids) - counts.keys())[:10]}"
        print(
            f"\n[{combo.id}] SIGTERM with a backlog: {len(handled_first)} handled before, "
            f"{total - len(handled_first)} after restart, "
            f"{sum(counts.values()) - total} handled twice"
        )
