"""The seed document's examples, switched to anystream, served by real servers.

Each example runs under hypercorn (trio, asyncio, uvloop workers) and uvicorn with
a real nats-server; an outside nats-py client publishes and sees the reply.
"""

from __future__ import annotations

import pytest

from anystream.testing import NatsServer

from .conftest import StartServer
from .servers import COMBOS, PROBE, Combo, exchange, expected_exit, native_nats_runtime

pytestmark = pytest.mark.e2e

#: What each example serves: path -> expected status of GET.
ROUTES: dict[str, dict[str, int]] = {
    "seed_ping": {"/health": 204},
    "seed_get": {"/liveness": 200, "/health": 204},
    "seed_asyncapi": {"/health": 204, "/docs": 200, "/docs.json": 200},
    "seed_reuse": {
        "/liveness": 200,
        "/readiness": 204,
        "/health": 204,
        "/docs": 200,
        "/docs.json": 200,
    },
}

SECRET = "s3cret-Passw0rd"


def credentialed(url: str) -> str:
    """The server URL with a user and password (nats-server without auth ignores them)."""
    return url.replace("nats://", f"nats://anystream:{SECRET}@")


@pytest.mark.parametrize("example", list(ROUTES))
@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.id)
def test_seed_example_serves_consumes_and_stops_cleanly(
    combo: Combo, example: str, nats_server: NatsServer, start_server: StartServer
) -> None:
    url = credentialed(nats_server.url)
    server = start_server(combo, PROBE, nats_url=url, PROBED_APP=f"examples.{example}:app")
    # NATS runs on anystream.nats on every server, trio included: no trio-asyncio.
    native_nats_runtime(server)

    with server.client() as http:
        for path, status in ROUTES[example].items():
            response = http.get(path)
            assert response.status_code == status, (path, response.text)
            assert SECRET not in response.text
            if path == "/docs":
                assert "text/html" in response.headers["content-type"]
            if path == "/docs.json":
                schema = response.json()
                assert f"{example}.in" in response.text
                assert schema["servers"]

            head, body = server.head(path)
            assert head.split(b" ")[1] == str(status).encode(), head
            assert body == b"", f"HEAD {path} on {combo.id} sent a body"

        missing = http.get("/no-such-route")
        assert missing.status_code == 404

        wrong_method = http.post("/health")
        assert wrong_method.status_code == 405
        assert "GET" in wrong_method.headers["allow"]

    reply = exchange(nats_server.url, example, f"hello from {combo.id}")
    assert reply == f"{example} got hello from {combo.id}"

    assert server.terminate() == expected_exit(combo)
    output = server.output
    assert "shutdown failed" not in output
    assert "FastStream app shut down gracefully" in output
    assert SECRET not in output
