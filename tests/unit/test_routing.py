"""Route dispatch: exact endpoints, Starlette-style mounts, 404, 405, HEAD, errors."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from anystream.asgi import (
    AsgiFastStream,
    AsgiResponse,
    Header,
    JSONResponse,
    Query,
    Request,
    get,
    post,
)
from anystream.asgi._routing import MethodNotAllowed, Mounted, Router, route_path
from tests.helpers import client

pytestmark = pytest.mark.anyio


@get
async def hello(scope):
    return AsgiResponse(b"hello", 200)


@post
async def create(scope):
    return AsgiResponse(b"created", 201)


@get
async def broken(scope):
    raise RuntimeError("boom")


def test_router_prefers_the_endpoint_whose_methods_match() -> None:
    router = Router([("/items", hello), ("/items", create)])
    assert router.resolve_http("/items", "GET") is hello
    assert router.resolve_http("/items", "POST") is create
    not_allowed = router.resolve_http("/items", "DELETE")
    assert isinstance(not_allowed, MethodNotAllowed)
    assert set(not_allowed.allow) == {"GET", "HEAD", "POST"}
    assert router.resolve_http("/other", "GET") is None


def test_router_mounts_match_their_prefix_and_below_it_longest_first() -> None:
    async def outer(scope, receive, send): ...
    async def inner(scope, receive, send): ...

    router = Router([("/api", outer), ("/api/v2/", inner)])
    assert router.resolve_http("/api", "GET") == Mounted(outer, "/api")
    assert router.resolve_http("/api/x", "GET") == Mounted(outer, "/api")
    assert router.resolve_http("/api/v2/x", "GET") == Mounted(inner, "/api/v2")
    assert router.resolve_http("/apiary", "GET") is None


def test_route_path_is_relative_to_root_path() -> None:
    assert route_path({"path": "/svc/health", "root_path": "/svc"}) == "/health"
    assert route_path({"path": "/health", "root_path": ""}) == "/health"
    assert route_path({"path": "/svc", "root_path": "/svc"}) == ""


async def test_unknown_path_is_404() -> None:
    app = AsgiFastStream(asgi_routes=[("/hello", hello)])
    async with client(app) as c:
        response = await c.get("/nope")
    assert response.status_code == 404


async def test_wrong_method_is_405_with_allow_header() -> None:
    app = AsgiFastStream(asgi_routes=[("/hello", hello)])
    async with client(app) as c:
        response = await c.delete("/hello")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_get_and_post_may_share_a_path() -> None:
    app = AsgiFastStream(asgi_routes=[("/items", hello), ("/items", create)])
    async with client(app) as c:
        assert (await c.get("/items")).status_code == 200
        assert (await c.post("/items")).status_code == 201
        assert (await c.put("/items")).headers["allow"] == "GET, HEAD, POST"


async def test_head_answers_headers_without_a_body() -> None:
    sent: list[dict] = []
    app = AsgiFastStream(asgi_routes=[("/hello", hello)])

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "HEAD", "path": "/hello", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert (b"content-length", b"5") in sent[0]["headers"]
    assert all(not m.get("body") for m in sent if m["type"] == "http.response.body")


async def test_a_broken_handler_answers_500_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    app = AsgiFastStream(asgi_routes=[("/broken", broken)])
    with caplog.at_level(logging.ERROR):
        async with client(app) as c:
            response = await c.get("/broken")
    assert response.status_code == 500
    assert "boom" not in response.text  # no traceback leaks to the client
    assert any("boom" in (r.exc_text or "") or "boom" in str(r.exc_info) for r in caplog.records)


async def test_a_broken_mounted_app_answers_500_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def crashing(scope, receive, send):
        raise ValueError("mounted boom")

    app = AsgiFastStream()
    app.mount("/crash", crashing)
    with caplog.at_level(logging.ERROR, logger="anystream"):
        async with client(app) as c:
            response = await c.get("/crash/x")
    assert response.status_code == 500
    assert "mounted boom" not in response.text
    assert any("/crash" in r.getMessage() for r in caplog.records)


async def test_request_query_and_header_parameters_are_injected() -> None:
    @post
    async def echo(
        scope,
        request: Request,
        name: str = Query(),
        token: str = Header("X-Token"),
    ):
        body = await request.json()
        return JSONResponse({"name": name, "token": token, "body": body})

    app = AsgiFastStream(asgi_routes=[("/echo", echo)])
    async with client(app) as c:
        response = await c.post(
            "/echo?name=ada", json={"n": 1}, headers={"X-Token": "t0k"}
        )
    assert response.status_code == 200
    assert response.json() == {"name": ["ada"], "token": "t0k", "body": {"n": 1}}


async def test_an_invalid_or_missing_query_parameter_is_422() -> None:
    @get
    async def needs(scope, name: list[int] = Query(cast=True)):
        return AsgiResponse(str(name[0]).encode())

    app = AsgiFastStream(asgi_routes=[("/needs", needs)])
    async with client(app) as c:
        assert (await c.get("/needs?name=x")).status_code == 422
        assert (await c.get("/needs")).status_code == 422
        assert (await c.get("/needs?name=7")).text == "7"


async def test_mounted_starlette_app_sees_its_routes_under_the_prefix() -> None:
    async def whoami(request):
        return PlainTextResponse(f"{request.url.path}|{request.scope['root_path']}")

    sub = Starlette(routes=[Route("/who", whoami)])
    app = AsgiFastStream()
    app.mount("/sub", sub)
    async with client(app) as c:
        response = await c.get("/sub/who")
    assert response.status_code == 200
    assert response.text == "/sub/who|/sub"


async def test_mounted_fastapi_app_and_root_path_from_the_server() -> None:
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app = AsgiFastStream(asgi_routes=[("/hello", hello)])
    app.mount("/api", api)
    # The server itself mounts us under /svc (uvicorn --root-path /svc).
    async with client(app, root_path="/svc") as c:
        assert (await c.get("/svc/api/items/3")).json() == {"item_id": 3}
        assert (await c.get("/svc/hello")).text == "hello"
        assert (await c.get("/svc/api/nope")).status_code == 404


async def test_websocket_to_an_http_only_app_is_closed_cleanly() -> None:
    app = AsgiFastStream(asgi_routes=[("/hello", hello)])
    messages = [{"type": "websocket.connect"}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    await app({"type": "websocket", "path": "/hello", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000, "reason": "no websocket route"}]


def test_scope_only_handlers_skip_dependency_injection_and_others_keep_it() -> None:
    from anystream.asgi._handlers import takes_only_scope

    async def plain(scope): ...
    async def annotated(scope: dict): ...
    async def with_request(scope, request: Request): ...
    def sync_handler(scope): ...

    assert takes_only_scope(plain)
    assert not takes_only_scope(with_request)
    assert not takes_only_scope(sync_handler)  # faststream runs those in a thread
    assert not takes_only_scope(annotated)  # a real type: let faststream validate it


async def test_sync_handlers_still_work() -> None:
    @get
    def sync_hello(scope):
        return AsgiResponse(b"from a thread")

    app = AsgiFastStream(asgi_routes=[("/sync", sync_hello)])
    async with client(app) as c:
        assert (await c.get("/sync")).text == "from a thread"


async def test_handlers_appear_in_the_asyncapi_schema() -> None:
    app = AsgiFastStream(asgi_routes=[("/hello", hello)], asyncapi_path="/docs")
    async with client(app) as c:
        assert "/hello" in (await c.get("/docs.json")).text
