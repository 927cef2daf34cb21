"""Every HTTP handler in an anystream app answers bad input the same way (issue 14, point 2).

Handlers built with faststream's own ``get``/``post`` (in ``asgi_routes`` or
``mount``), anystream's, the docs routes: 413 for a body over ``max_body_size``
(declared or streamed), 422 for malformed JSON, 500 with a fixed body and the
exception in the log. In-process on asyncio and trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.asgi import get as faststream_get
from faststream.asgi import post as faststream_post
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, JSONResponse, Request, get, post
from anystream.asgi._limits import DEFAULT_MAX_BODY_SIZE
from tests.helpers import client

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-in-an-exception"


@faststream_post
async def fs_echo(request: Request) -> AsgiResponse:
    return JSONResponse(await request.json(), 200)


@post
async def echo(request: Request) -> AsgiResponse:
    return JSONResponse(await request.json(), 200)


@faststream_get
async def fs_boom(request: Request) -> AsgiResponse:
    raise RuntimeError(SECRET)


@get
async def boom(scope: Any) -> AsgiResponse:
    raise RuntimeError(SECRET)


def make_app(**options: Any) -> AsgiFastStream:
    app = AsgiFastStream(
        NatsBroker(),
        asgi_routes=[("/fs-echo", fs_echo), ("/echo", echo), ("/boom", boom)],
        asyncapi_path="/docs",
        **options,
    )
    app.mount("/fs-boom", fs_boom)
    return app


async def streamed(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 4096):
        yield b"1" * 4096


def too_big() -> bytes:
    return b"[" + b"1," * DEFAULT_MAX_BODY_SIZE + b"1]"


@pytest.mark.parametrize("path", ["/fs-echo", "/echo"])
async def test_a_body_over_the_default_limit_gets_413_declared_or_streamed(path: str) -> None:
    async with client(make_app()) as http:
        declared = await http.post(path, content=too_big())
        chunked = await http.post(path, content=streamed(2 * DEFAULT_MAX_BODY_SIZE))
        fine = await http.post(path, json={"ok": 1})
    assert (declared.status_code, declared.text) == (413, "Payload Too Large")
    assert (chunked.status_code, chunked.text) == (413, "Payload Too Large")
    assert fine.json() == {"ok": 1}


@pytest.mark.parametrize("path", ["/fs-echo", "/echo"])
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""], ids=["syntax", "utf8", "empty"])
async def test_malformed_json_gets_422(path: str, body: bytes) -> None:
    async with client(make_app()) as http:
        response = await http.post(path, content=body)
    assert (response.status_code, response.text) == (422, "Malformed JSON body")


@pytest.mark.parametrize("path", ["/fs-boom", "/boom"])
async def test_a_raising_handler_gets_500_with_a_fixed_body_and_a_log_line(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(make_app()) as http:
        response = await http.get(path)
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert any(SECRET in (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize("path", ["/docs", "/docs.json"])
async def test_docs_routes_refuse_a_declared_body_over_the_limit_too(path: str) -> None:
    async with client(make_app()) as http:
        declared = await http.request("GET", path, content=too_big())
        # A streamed body the route never reads is not buffered: nothing to refuse.
        unread = await http.request("GET", path, content=streamed(2 * DEFAULT_MAX_BODY_SIZE))
    assert declared.status_code == 413
    assert unread.status_code == 200


async def test_the_limit_is_configurable_and_none_turns_it_off() -> None:
    body = b'"' + b"x" * (2 * DEFAULT_MAX_BODY_SIZE) + b'"'
    async with client(make_app(max_body_size=None)) as http:
        assert (await http.post("/fs-echo", content=body)).status_code == 200
    async with client(make_app(max_body_size=10)) as http:
        assert (await http.post("/fs-echo", content=b'"0123456789"')).status_code == 413
        assert (await http.post("/fs-echo", content=b'"01234567"')).status_code == 200


def test_the_default_limit_is_one_mebibyte() -> None:
    assert make_app().max_body_size == DEFAULT_MAX_BODY_SIZE == 1_048_576
