"""NATS dies under steady consumption and comes back: health follows, nothing is lost.

Real nats-server (JetStream), real server processes: hypercorn's trio worker and
uvicorn (asyncio). A publisher thread keeps publishing through the outage with its
own connection: JetStream publishes are retried until the server acknowledges them
(so "published" means stored), core publishes are fire-and-forget.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import anyio
import httpx
import pytest

import nats
from anystream.testing import NatsServer
from tests.e2e.servers import Combo

from .conftest import Serve
from .support import BACKENDS, Records

pytestmark = pytest.mark.e2e

HEALTH_TIMEOUT = 2.0
MESSAGES = 1500


@dataclass
class SteadyPublisher:
    """Publishes ``m0..m{count-1}`` to ``rel.js`` and ``rel.core``, one pair every ~2 ms."""

    url: str
    count: int
    js_published: list[str] = field(default_factory=list)
    core_published: list[str] = field(default_factory=list)
    core_failed: int = 0
    js_retries: int = 0

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=anyio.run, args=(self._run,), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "publisher did not finish"

    async def _run(self) -> None:
        nc = await nats.connect(
            self.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1, connect_timeout=1
        )
        js = nc.jetstream()
        deadline = time.monotonic() + 60.0  # bounded in time as well as in count
        try:
            for i in range(self.count):
                ident = f"m{i}"
                try:
                    await nc.publish("rel.core", ident.encode())
                    self.core_published.append(ident)
                except Exception:
                    self.core_failed += 1
                while time.monotonic() < deadline:
                    try:
                        # Nats-Msg-Id: a retried publish whose ack was lost is
                        # stored once (the stream's duplicate window).
                        await js.publish(
                            "rel.js", ident.encode(), timeout=0.5, headers={"Nats-Msg-Id": ident}
                        )
                        self.js_published.append(ident)
                        break
                    except Exception:
                        self.js_retries += 1
                        await anyio.sleep(0.05)
                await anyio.sleep(0.002)
            await nc.flush(timeout=5)
        finally:
            await nc.close()


def outage(
    combo: Combo, serve: Serve, records: Records, *, crash: bool
) -> tuple[SteadyPublisher, dict[str, float]]:
    """Serve, publish steadily, stop NATS mid-stream (SIGKILL if ``crash``), restart it."""
    figures: dict[str, float] = {}
    with NatsServer(jetstream=True) as nats_server:
        server = serve(combo, nats_server.url, HEALTH_TIMEOUT=str(HEALTH_TIMEOUT))
        http = httpx.Client(base_url=server.base_url, timeout=HEALTH_TIMEOUT + 3.0)
        assert http.get("/health").status_code == 204
        # NATS on anystream.nats, on trio too: no trio-asyncio in the server process.
        assert http.get("/runtime").json()["connections"] == ["anystream.nats.compat.client"]
        assert http.get("/runtime").json()["trio_asyncio"] is False
        publisher = SteadyPublisher(nats_server.url, MESSAGES)
        publisher.start()
        records.wait_for("js", [f"m{MESSAGES // 4}"], timeout=20.0)  # consuming steadily

        nats_server.kill() if crash else nats_server.stop()
        began = time.monotonic()
        assert http.get("/health").status_code == 500
        figures["unhealthy_after_s"] = time.monotonic() - began
        assert figures["unhealthy_after_s"] <= HEALTH_TIMEOUT + 0.5
        time.sleep(1.0)

        nats_server.start()  # same port, same JetStream store
        began = time.monotonic()
        deadline = began + 20.0
        while http.get("/health").status_code != 204:
            assert time.monotonic() < deadline, f"/health stayed 500:\n{server.output}"
            time.sleep(0.05)
        figures["healthy_again_after_s"] = time.monotonic() - began

        publisher.join(timeout=60.0)
        records.wait_for("js", publisher.js_published, timeout=30.0)
        # Core: wait until the last message published after recovery arrived.
        records.wait_for("core", publisher.core_published[-1:], timeout=10.0)
        server.terminate()
    return publisher, figures


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_jetstream_durable_consumer_loses_nothing_and_handles_nothing_twice_when_nats_crashes(
    combo: Combo, serve: Serve, records: Records
) -> None:
    publisher, figures = outage(combo, serve, records, crash=True)

    handled = records.counts("js")
    missing = set(publisher.js_published) - handled.keys()
    duplicates = sum(n - 1 for n in handled.values())
    print(  # figures for docs/reliability.md (pytest -s)
        f"\n[{combo.id}] jetstream crash: published={len(publisher.js_published)} "
        f"handled={len(handled)} lost={len(missing)} duplicates={duplicates} "
        f"retried_publishes={publisher.js_retries} {figures}"
    )
    assert not missing
    assert len(publisher.js_published) == MESSAGES
    # JetStream is at-least-once: messages whose ack was in flight when the server
    # died are delivered again. The publisher's Nats-Msg-Id keeps retried publishes
    # out of the stream, and anystream's redelivery guard acks redeliveries of what
    # this process already handled instead of running the handler again.
    assert duplicates == 0


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_core_nats_consumer_resumes_after_a_crash_and_the_loss_is_counted(
    combo: Combo, serve: Serve, records: Records
) -> None:
    publisher, figures = outage(combo, serve, records, crash=True)

    handled = records.counts("core")
    lost = set(publisher.core_published) - handled.keys()
    print(
        f"\n[{combo.id}] core crash: published={len(publisher.core_published)} "
        f"failed_publishes={publisher.core_failed} handled={len(handled)} "
        f"lost={len(lost)} {figures}"
    )
    assert set(handled.values()) <= {1}  # at most once
    # Everything published once both ends were back is consumed again.
    assert publisher.core_published[-1] in handled
    assert len(handled) + len(lost) == len(publisher.core_published)
