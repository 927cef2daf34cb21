"""Internal routes answer only on an internal bind; 404 on the public one.

The app tells binds apart by ``scope["server"]``, the local address the request
came in on; httpx's ASGI transport fills it from the URL, as a server would from
its socket. In-process on asyncio and trio (``tests/cli`` and ``tests/e2e`` do it
through ``anystream run`` and hypercorn).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, get
from anystream.asgi._routing import InternalBinds
from anystream.testing import lifespan
from tests.helpers import call_asgi, http_scope

pytestmark = pytest.mark.anyio

PUBLIC = "http://10.0.0.5:8080"
INTERNAL = "http://127.0.0.1:9090"


@get
async def metrics(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"requests_total 1\n", 200)


@get
async def hello(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"hello", 200)


async def static(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def make_app(url: str = "nats://127.0.0.1:1", **options: Any) -> AsgiFastStream:
    return AsgiFastStream(
        NatsBroker(url),
        asgi_routes=[("/hello", hello)],
        internal_routes=[("/metrics", metrics)],
        **options,
    )


async def get_from(app: AsgiFastStream, base_url: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        return await http.get(path)


async def test_an_internal_route_is_404_on_the_public_bind_and_served_on_the_internal_one() -> None:
    app = make_app(internal_binds=["127.0.0.1:9090"])
    assert (await get_from(app, PUBLIC, "/metrics")).status_code == 404
    assert (await get_from(app, INTERNAL, "/metrics")).text == "requests_total 1\n"
    assert (await get_from(app, PUBLIC, "/hello")).text == "hello"  # public: everywhere
    assert (await get_from(app, INTERNAL, "/hello")).text == "hello"


@pytest.mark.parametrize("entry", ["9090", 9090, "0.0.0.0:9090", "[::]:9090"])
async def test_a_port_or_a_wildcard_host_matches_any_local_address(entry: str | int) -> None:
    app = make_app(internal_binds=[entry])
    assert (await get_from(app, "http://10.1.2.3:9090", "/metrics")).status_code == 200
    assert (await get_from(app, "http://10.1.2.3:9091", "/metrics")).status_code == 404


async def test_the_environment_names_the_internal_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSTREAM_INTERNAL_BINDS", "127.0.0.1:9090, 127.0.0.1:9091")
    app = make_app()
    assert (await get_from(app, "http://127.0.0.1:9091", "/metrics")).status_code == 200
    assert (await get_from(app, PUBLIC, "/metrics")).status_code == 404


async def test_without_an_internal_bind_internal_routes_answer_nowhere_and_say_why(
    nats_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("ANYSTREAM_INTERNAL_BINDS", raising=False)
    app = make_app(nats_url)
    async with lifespan(app):
        assert (await get_from(app, INTERNAL, "/metrics")).status_code == 404
    assert any(
        "internal routes (/metrics) answer 404: no internal bind" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )


async def test_mounts_and_docs_can_be_internal() -> None:
    app = AsgiFastStream(
        NatsBroker("nats://127.0.0.1:1"),
        asyncapi_path="/docs",
        docs_internal=True,
        internal_binds=[9090],
    )
    app.mount("/static", static, internal=True)
    for path in ("/docs", "/docs.json", "/static/app.js"):
        assert (await get_from(app, PUBLIC, path)).status_code == 404, path
        assert (await get_from(app, INTERNAL, path)).status_code == 200, path


async def test_a_request_without_a_server_address_is_public() -> None:
    app = make_app(internal_binds=[9090])
    scope = http_scope("/metrics")  # no "server" key
    status, _, _ = await call_asgi(app, scope)
    assert status == 404


@pytest.mark.parametrize("entry", ["localhost", "host:port", "127.0.0.1:0", "70000"])
def test_a_bad_internal_bind_is_a_clear_error(entry: str) -> None:
    with pytest.raises(ValueError, match="bad internal bind"):
        InternalBinds([entry])


async def test_public_docs_do_not_list_internal_routes_internal_docs_do() -> None:
    for docs_internal, base_url, listed in [(False, PUBLIC, False), (True, INTERNAL, True)]:
        app = make_app(internal_binds=[9090], asyncapi_path="/docs", docs_internal=docs_internal)
        schema = (await get_from(app, base_url, "/docs.json")).text
        assert "/hello" in schema
        assert ("/metrics" in schema) is listed


async def test_internal_binds_can_be_set_after_the_app_is_built() -> None:
    app = make_app(internal_binds=[])
    app.internal_binds = ["127.0.0.1:9090"]
    assert (await get_from(app, INTERNAL, "/metrics")).status_code == 200
    assert (await get_from(app, PUBLIC, "/metrics")).status_code == 404
