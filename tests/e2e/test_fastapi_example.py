"""The seed's FastAPI example: FastAPI hosts the broker via ``broker_lifespan``."""

from __future__ import annotations

import pytest

from anystream.testing import NatsServer

from .conftest import StartServer
from .servers import HYPERCORN_TRIO, UVICORN, Combo, exchange, expected_exit, receive

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("combo", [HYPERCORN_TRIO, UVICORN], ids=lambda c: c.id)
def test_fastapi_example_serves_mounted_apps_and_consumes(
    combo: Combo, nats_server: NatsServer, start_server: StartServer
) -> None:
    url = nats_server.url.replace("nats://", "nats://anystream:s3cret@")
    server = start_server(combo, "examples.seed_fastapi:app", nats_url=url)

    with server.client() as http:
        # Starlette redirects the mount root /health to /health/.
        health = http.get("/health", follow_redirects=True)
        assert health.status_code == 204
        docs = http.get("/asyncapi", follow_redirects=True)
        assert docs.status_code == 200
        assert "seed_fastapi.in" in docs.text
        assert "s3cret" not in docs.text

        # A FastAPI route publishing through the broker (a trio task on hypercorn-trio).
        response, published = receive(nats_server.url, "seed_fastapi.out", http, "/hello")
        assert response.json() == {"hello": "world"}
        assert published == "from fastapi"

    assert exchange(nats_server.url, "seed_fastapi", "hi") == "seed_fastapi got hi"

    assert server.terminate() == expected_exit(combo)
    assert "shutdown failed" not in server.output
