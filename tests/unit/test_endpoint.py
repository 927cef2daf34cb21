"""``Endpoint``, the base of every built-in route, in anystream's app and in faststream's.

Contract with faststream (``faststream.asgi``): its ``AsgiFastStream`` treats a route as an
endpoint only if it is an ``HttpHandler`` instance, and lists it in the AsyncAPI schema from
``include_in_schema``, ``description`` and ``methods``. If a release changes that, the
faststream tests below fail.
"""

from __future__ import annotations

import logging

import pytest
from faststream.asgi import AsgiFastStream as FaststreamAsgiFastStream
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, make_asyncapi_asgi, make_ping_asgi
from anystream.asgi._asyncapi import make_asyncapi_json_asgi
from anystream.asgi._endpoint import Endpoint
from anystream.asgi.types import Scope
from anystream.observability import make_liveness_asgi, make_metrics_asgi, make_readiness_asgi
from tests.helpers import client

pytestmark = pytest.mark.anyio


class Hello(Endpoint):
    async def respond(self, scope: Scope) -> AsgiResponse:
        """Says hello."""
        return AsgiResponse(b"hello", 200)


class Broken(Endpoint):
    async def respond(self, scope: Scope) -> AsgiResponse:
        raise RuntimeError("secret: db password is hunter2")


def _builtin_endpoints() -> list[object]:
    broker = NatsBroker()
    return [
        make_ping_asgi(broker),
        make_liveness_asgi(),
        make_readiness_asgi(broker),
        make_metrics_asgi(),
        make_asyncapi_asgi(broker),
        make_asyncapi_json_asgi(broker),
    ]


def test_every_builtin_endpoint_is_an_endpoint() -> None:
    assert all(isinstance(endpoint, Endpoint) for endpoint in _builtin_endpoints())


async def test_an_endpoint_answers_get_and_head_and_refuses_other_methods_with_allow() -> None:
    app = AsgiFastStream(asgi_routes=[("/hello", Hello())])
    async with client(app) as http:
        got = await http.get("/hello")
        head = await http.head("/hello")
        posted = await http.post("/hello")
    assert (got.status_code, got.content) == (200, b"hello")
    assert (head.status_code, head.content) == (200, b"")
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"


async def test_an_endpoint_takes_the_methods_it_is_given() -> None:
    app = AsgiFastStream(asgi_routes=[("/hello", Hello(methods=("POST",)))])
    async with client(app) as http:
        assert (await http.post("/hello")).status_code == 200
        refused = await http.get("/hello")
    assert (refused.status_code, refused.headers["allow"]) == (405, "POST")


async def test_an_endpoint_that_raises_answers_a_fixed_500_and_logs_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = AsgiFastStream(asgi_routes=[("/broken", Broken())])
    with caplog.at_level(logging.ERROR):
        async with client(app) as http:
            answer = await http.get("/broken")
    assert (answer.status_code, answer.text) == (500, "Internal Server Error")
    assert "hunter2" not in answer.text
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records)


async def test_faststreams_own_app_serves_an_endpoint() -> None:
    app = FaststreamAsgiFastStream(asgi_routes=[("/hello", Hello())])
    async with client(app) as http:
        answer = await http.get("/hello")
    assert (answer.status_code, answer.content) == (200, b"hello")


@pytest.mark.parametrize("app_class", [AsgiFastStream, FaststreamAsgiFastStream])
def test_both_apps_list_an_endpoint_in_the_asyncapi_schema(app_class: type) -> None:
    app = app_class(
        NatsBroker(),
        asgi_routes=[("/hello", Hello()), ("/live", make_liveness_asgi())],
    )
    schema = app.schema.to_specification().to_jsonable()
    # Liveness is left out: include_in_schema=False.
    assert [c["address"] for c in schema["channels"].values()] == ["/hello"]
    (hello,) = schema["channels"].values()
    (operation,) = schema["operations"].values()
    assert hello["description"] == "Says hello."
    assert operation["bindings"]["http"]["method"] == "GET"
