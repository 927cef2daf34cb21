"""AsyncAPI docs: the page, the schema with HTTP routes, and no credentials anywhere."""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker

from anystream import FastStream
from anystream.asgi import (
    AsgiFastStream,
    AsgiResponse,
    AsyncAPIRoute,
    get,
    make_asyncapi_asgi,
    make_ping_asgi,
)
from tests.helpers import client

pytestmark = pytest.mark.anyio

SECRET_URL = "nats://admin:s3cr3t-pass@127.0.0.1:4222"


def _app() -> AsgiFastStream:
    broker = NatsBroker(SECRET_URL)

    @broker.subscriber("orders.created")
    async def on_order(body: dict) -> None: ...

    @get
    async def liveness(scope):
        return AsgiResponse(b"", 200)

    return AsgiFastStream(
        broker,
        asgi_routes=[("/liveness", liveness), ("/readiness", make_ping_asgi(broker))],
        asyncapi_path="/docs",
    )


async def test_docs_page_and_json_schema_are_served() -> None:
    async with client(_app()) as c:
        page = await c.get("/docs")
        schema = await c.get("/docs.json")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "orders.created" in page.text
    assert schema.status_code == 200
    assert "orders.created" in schema.text


async def test_schema_lists_the_http_routes() -> None:
    async with client(_app()) as c:
        schema = (await c.get("/docs.json")).text
    assert "/liveness" in schema
    assert "/readiness" in schema


async def test_credentials_in_the_broker_url_never_appear() -> None:
    async with client(_app()) as c:
        for path in ("/docs", "/docs.json"):
            body = (await c.get(path)).text
            assert "s3cr3t-pass" not in body
            assert "admin" not in body


async def test_asyncapi_route_options_are_honoured() -> None:
    broker = NatsBroker(SECRET_URL)
    app = AsgiFastStream(
        broker, asyncapi_path=AsyncAPIRoute("/api/docs", asyncapi_json_path="/api/schema.json")
    )
    async with client(app) as c:
        assert (await c.get("/api/docs")).status_code == 200
        assert (await c.get("/api/schema.json")).status_code == 200
        assert (await c.get("/api/docs.json")).status_code == 404


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda b: FastStream(b), id="app"),
        pytest.param(lambda b: b, id="broker"),
        pytest.param(lambda b: FastStream(b).schema, id="specification"),
    ],
)
async def test_make_asyncapi_asgi_takes_an_app_a_broker_or_a_schema(source) -> None:
    broker = NatsBroker(SECRET_URL)

    @broker.subscriber("events")
    async def on_event(body: str) -> None: ...

    docs = make_asyncapi_asgi(source(broker))
    async with client(docs) as c:
        page = await c.get("/")
    assert page.status_code == 200
    assert "events" in page.text
    assert "s3cr3t-pass" not in page.text


def test_make_asyncapi_asgi_refuses_anything_else_clearly() -> None:
    with pytest.raises(TypeError, match="expected a FastStream app, a broker or a specification"):
        make_asyncapi_asgi(42)
