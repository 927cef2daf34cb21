"""NATS goes away and comes back while the app is served: health follows, consuming resumes."""

from __future__ import annotations

import httpx
import pytest

from anystream.testing import NatsServer

from .conftest import StartServer
from .servers import COMBOS, Combo, eventually, exchange

pytestmark = pytest.mark.e2e

PING_TIMEOUT = 5.0  # examples/seed_ping.py: make_ping_asgi(broker, timeout=5.0)


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.id)
def test_health_follows_a_nats_restart_and_consuming_resumes(
    combo: Combo, own_nats_server: NatsServer, start_server: StartServer
) -> None:
    nats = own_nats_server
    server = start_server(combo, "examples.seed_ping:app", nats_url=nats.url)
    # The HTTP client gives up shortly after the ping timeout: /health must answer by then.
    with httpx.Client(base_url=server.base_url, timeout=PING_TIMEOUT + 2.0) as http:
        assert http.get("/health").status_code == 204
        assert exchange(nats.url, "seed_ping", "before") == "seed_ping got before"

        nats.stop()
        assert http.get("/health").status_code == 500

        nats.start()  # same port
        healthy = eventually(lambda: http.get("/health").status_code == 204, timeout=20.0)
        assert healthy, f"/health stayed unhealthy after NATS came back:\n{server.output}"

    # The subscription is re-established on reconnect; retry until it is in place.
    reply = eventually(lambda: exchange(nats.url, "seed_ping", "after", timeout=1.0), timeout=10.0)
    assert reply == "seed_ping got after"
