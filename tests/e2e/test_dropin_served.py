"""Drop-in behaviour through real servers: hypercorn (trio) and uvicorn (asyncio).

The app (tests/e2e/apps/dropin.py) is built with ``anystream.FastStream(...).as_asgi``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from anystream.testing import NatsServer

from .conftest import StartServer
from .servers import HYPERCORN_TRIO, UVICORN, Combo

APP = "tests.e2e.apps.dropin:app"
COMBOS = (HYPERCORN_TRIO, UVICORN)


def status_after(base_url: str, path: str, delay: float) -> int:
    time.sleep(delay)
    return httpx.get(base_url + path, timeout=10.0).status_code


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.id)
def test_a_5s_probe_that_joins_a_2s_probes_ping_is_not_cut_short(
    combo: Combo, start_server: StartServer, own_nats_server: NatsServer
) -> None:
    server = start_server(combo, APP, nats_url=own_nats_server.url)
    server.wait_ready("/ready")
    assert httpx.get(server.base_url + "/ready").status_code == 204
    own_nats_server.pause()  # the server answers nothing for 3 s
    try:
        with ThreadPoolExecutor(2) as pool:
            live = pool.submit(status_after, server.base_url, "/live", 0.0)
            ready = pool.submit(status_after, server.base_url, "/ready", 0.5)
            time.sleep(3.0)
            own_nats_server.resume()
            statuses = (live.result(), ready.result())
    finally:
        own_nats_server.resume()
    assert statuses == (500, 204)


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.id)
def test_handlers_get_faststreams_own_request_class_and_as_asgi_options_apply(
    combo: Combo, start_server: StartServer, nats_url: str
) -> None:
    server = start_server(combo, APP, nats_url=nats_url)
    with server.client() as http:
        kind = http.get("/request-type").json()
        small = http.post("/echo", content=b"x" * 64)
        large = http.post("/echo", content=b"x" * 65)
    assert kind == {"class": "faststream.asgi.request.AsgiRequest"}
    assert (small.status_code, small.content) == (200, b"x" * 64)
    assert large.status_code == 413  # max_body_size given to as_asgi()
