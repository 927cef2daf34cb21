"""Probes under a backlog, on real servers: hypercorn trio, hypercorn asyncio, uvicorn
(uvloop, its default loop). Mechanism, not timings: `/health` is answered while the
backlog is still being consumed, and nothing is dropped.
"""

from __future__ import annotations

import time

import httpx
import pytest

from anystream.testing import NatsServer
from tests.e2e.servers import Combo, ServerProcess

from .support import SERVERS, publish

pytestmark = pytest.mark.e2e

APP = "tests.reliability.apps.busy:app"
MESSAGES = 6000  # x 1 ms of CPU each: a backlog of about 6 s
PAYLOAD = "x" * 200


def _progress(server: ServerProcess) -> dict[str, int]:
    return httpx.get(server.base_url + "/progress", timeout=30).json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("combo", SERVERS, ids=lambda c: c.id)
def test_health_answers_while_a_backlog_is_consumed_on_every_server(
    combo: Combo, nats_server: NatsServer, tmp_path: object
) -> None:
    server = ServerProcess(combo, APP, nats_url=nats_server.url,
                           log_path=tmp_path / "server.log")  # type: ignore[operator]
    server.start()
    try:
        server.wait_ready()
        publish(nats_server.url, "busy.work", [PAYLOAD] * MESSAGES)  # flushed: all sent
        deadline = time.monotonic() + 30
        while _progress(server)["handled"] == 0:
            assert time.monotonic() < deadline, "nothing was consumed"
            time.sleep(0.05)

        answered = []
        for _ in range(5):
            health = httpx.get(server.base_url + "/health", timeout=10)
            answered.append((health.status_code, _progress(server)))
        final = _progress(server)
        queued = [p["queued"] for _, p in answered]
        print(f"\n[{combo.id}] queued in the client while answering: {queued}, "
              f"handled {final['handled']}")
    finally:
        server.kill()

    assert [status for status, _ in answered] == [204] * 5
    # Answered while the backlog was still being consumed, not after it drained.
    assert answered[-1][1]["handled"] < MESSAGES, answered
    assert final["handled"] < MESSAGES
    # NATS runs on anystream.nats: its reader queues what arrives into the subscription
    # (bounded by the pending limits) and gives the loop back on its own.
    assert final["slow_consumer_dropped"] == 0
