"""Requests the app must refuse get a clear status, and the app keeps serving.

In-process (httpx's ASGI transport) on asyncio and trio; the same requests against
real server processes are in ``test_refused_requests_served.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.nats import NatsBroker

from anystream.asgi import (
    AsgiFastStream,
    AsgiResponse,
    JSONResponse,
    Query,
    Request,
    get,
    post,
)
from tests.helpers import body_size_app, call_asgi, client, http_scope

pytestmark = pytest.mark.anyio

LIMIT = 1024


@post
async def echo(request: Request) -> AsgiResponse:
    return JSONResponse(await request.json(), 200)


@get
async def hello(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"hello", 200)


def make_app(max_body_size: int | None = LIMIT) -> AsgiFastStream:
    return AsgiFastStream(
        NatsBroker(),
        asgi_routes=[("/echo", echo), ("/hello", hello), ("/upload", body_size_app)],
        max_body_size=max_body_size,
    )


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


async def test_a_declared_body_over_the_limit_gets_413_before_the_handler_runs() -> None:
    async with client(make_app()) as http:
        response = await http.post("/echo", content=b"[" + b"1," * LIMIT + b"1]")
        assert response.status_code == 413
        assert response.text == "Payload Too Large"
        assert (await http.get("/hello")).status_code == 200


async def test_a_streamed_body_over_the_limit_gets_413_from_handlers_and_mounts() -> None:
    async with client(make_app()) as http:
        # No Content-Length: httpx sends a chunked body; the limit applies while reading.
        assert (await http.post("/echo", content=chunks(4 * LIMIT))).status_code == 413
        assert (await http.post("/upload", content=chunks(4 * LIMIT))).status_code == 413
        small = await http.post("/upload", content=chunks(LIMIT))
        assert (small.status_code, small.text) == (200, str(LIMIT))


async def test_a_body_at_the_limit_is_accepted() -> None:
    body = b'"' + b"x" * (LIMIT - 2) + b'"'
    async with client(make_app()) as http:
        response = await http.post("/echo", content=body)
        assert response.status_code == 200
        assert response.json() == "x" * (LIMIT - 2)


async def test_without_a_limit_large_bodies_pass_as_in_faststream() -> None:
    async with client(make_app(max_body_size=None)) as http:
        response = await http.post("/upload", content=b"x" * (64 * LIMIT))
        assert response.text == str(64 * LIMIT)


@pytest.mark.parametrize(
    "body", [b"{not json", b"\xff\xfe\x00garbage", b""], ids=["syntax", "not-utf8", "empty"]
)
async def test_malformed_json_to_a_post_handler_gets_422(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(make_app()) as http:
        response = await http.post("/echo", content=body)
        assert response.status_code == 422
        assert response.text == "Malformed JSON body"
        assert "Traceback" not in response.text
        assert (await http.post("/echo", json={"ok": 1})).json() == {"ok": 1}
    assert sum("Malformed JSON body" in r.getMessage() for r in caplog.records) == 1


async def test_wrong_method_gets_405_with_allow_and_unknown_path_404() -> None:
    async with client(make_app()) as http:
        wrong = await http.delete("/echo")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST, HEAD"
        assert (await http.get("/nowhere")).status_code == 404


@get
async def search(q: list[str] = Query(default=())) -> AsgiResponse:
    return JSONResponse({"q": q}, 200)


@pytest.mark.parametrize(
    ("query", "expected"),
    [(b"q=%C3%A9t%C3%A9", "\u00e9t\u00e9"), (b"q=%ff%fe", "\ufffd\ufffd"), (b"q=\xe9", "\u00e9")],
    ids=["utf8-escaped", "not-utf8-escaped", "raw-latin1-byte"],
)
async def test_query_strings_that_are_not_ascii_or_not_utf8_are_decoded_not_500(
    query: bytes, expected: str
) -> None:
    app = make_app()
    app.mount("/search", search)
    status, body = await call_raw(app, "/search", query)
    assert status == 200
    assert json.loads(body) == {"q": [expected]}  # faststream: a list per name


async def call_raw(app: AsgiFastStream, path: str, query: bytes) -> tuple[int, bytes]:
    """One GET with a raw query string (httpx would re-encode it), as a server passes it."""
    status, _, body = await call_asgi(app, http_scope(path, query))
    return status, body
