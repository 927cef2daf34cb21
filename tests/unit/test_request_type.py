"""Handlers get the request object faststream gives them: faststream's own ``AsgiRequest``."""

from __future__ import annotations

from typing import Any

import faststream.asgi as upstream
import pytest
from faststream.asgi.request import AsgiRequest

import anystream.asgi as ours
from anystream.asgi import AsgiResponse, JSONResponse, Request
from tests.helpers import client

pytestmark = pytest.mark.anyio


def describe_app(asgi: Any) -> Any:
    """The same app built from ``faststream.asgi`` or ``anystream.asgi``."""

    @asgi.get
    async def describe(request: Request) -> AsgiResponse:
        kind = type(request)
        return JSONResponse(
            {
                "class": f"{kind.__module__}.{kind.__qualname__}",
                "is_faststreams": kind is AsgiRequest,
                "query": request.query_params,
            },
            200,
        )

    @asgi.post
    async def parse(request: Request) -> AsgiResponse:
        return JSONResponse(await request.json(), 200)

    return asgi.AsgiFastStream(asgi_routes=[("/describe", describe), ("/parse", parse)])


async def test_the_request_class_is_the_one_faststream_injects() -> None:
    answers = []
    for asgi in (upstream, ours):
        async with client(describe_app(asgi)) as http:
            answers.append((await http.get("/describe?a=1&b=2&b=3")).json())
    faststreams, anystreams = answers
    assert anystreams == faststreams
    assert anystreams["class"] == "faststream.asgi.request.AsgiRequest"
    assert anystreams["is_faststreams"] is True
    assert anystreams["query"] == {"a": ["1"], "b": ["2", "3"]}


async def test_blank_query_values_are_dropped_as_with_faststream() -> None:
    answers = []
    for asgi in (upstream, ours):
        async with client(describe_app(asgi)) as http:
            answers.append((await http.get("/describe?a=&b=1")).json()["query"])
    assert answers == [{"b": ["1"]}, {"b": ["1"]}]


async def test_a_query_value_faststream_cannot_decode_is_decoded_not_a_500() -> None:
    async with client(describe_app(upstream)) as http:
        theirs = await http.get("/describe", params={"q": "é"})
    async with client(describe_app(ours)) as http:
        mine = await http.get("/describe", params={"q": "é"})
    assert theirs.status_code == 500  # parse_qs(bytes) raises on any non-ASCII value
    assert (mine.status_code, mine.json()["query"]) == (200, {"q": ["é"]})


async def test_malformed_json_is_a_422_with_faststreams_request_class() -> None:
    async with client(describe_app(ours)) as http:
        good = await http.post("/parse", content=b'{"a": 1}')
        bad = await http.post("/parse", content=b"{not json")
    assert (good.status_code, good.json()) == (200, {"a": 1})
    assert bad.status_code == 422


async def test_contract_asgi_request_takes_a_preset_query_and_an_instance_json() -> None:
    """anystream presets ``_query_params`` and sets ``json`` on faststream's own
    ``AsgiRequest`` instances; both rely on how faststream 0.7 writes the class."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"[1]", "more_body": False}

    async def send(message: Any) -> None:
        pass

    from anystream.asgi._handlers import new_request

    scope = {"type": "http", "method": "GET", "query_string": b"q=%C3%A9", "headers": []}
    assert not hasattr(AsgiRequest, "__slots__"), "AsgiRequest has __slots__ now"
    assert AsgiRequest(scope, receive, send)._query_params is None
    request = new_request(scope, receive, send)
    assert type(request) is AsgiRequest
    assert request.query_params == {"q": ["é"]}, "AsgiRequest no longer reads _query_params"
    assert await request.json() == [1]
