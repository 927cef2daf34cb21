"""What the HTTP fuzz tests share: the app under test, the request strategy, the checks.

A request is generated as data (method, path, query string, headers, body chunks,
which bind it arrives on) and then either handed to the ASGI app in-process or
written to a real server's socket as HTTP/1.1 bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from faststream.asgi import post as faststream_post
from faststream.nats import NatsBroker
from hypothesis import strategies as st
from pydantic import BaseModel

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
from tests.helpers import body_size_app

PUBLIC_PORT = 8080
INTERNAL_PORT = 9090


class Order(BaseModel):
    id: int




def make_fuzz_app(
    nats_url: str = "nats://127.0.0.1:1", internal_binds: list[int] | None = [INTERNAL_PORT]  # noqa: B006
) -> AsgiFastStream:
    """Every kind of route an anystream app has; none of them fails on purpose."""
    broker = NatsBroker(nats_url, connect_timeout=2)

    @broker.subscriber("fuzz.orders")
    async def on_order(body: Any) -> Any:
        return {"accepted": body}

    @broker.subscriber("fuzz.typed")
    async def on_typed(order: Order) -> int:
        return order.id

    @post
    async def echo(request: Request) -> AsgiResponse:
        return JSONResponse(await request.json(), 200)

    @faststream_post
    async def fs_echo(request: Request) -> AsgiResponse:
        return JSONResponse(await request.json(), 200)

    @get
    async def search(q: list[str] = Query(default=()), agent: str = Header("user-agent", default="")) -> AsgiResponse:  # noqa: E501
        return JSONResponse({"q": q, "agent": agent}, 200)

    @get
    async def hello(scope: Any) -> AsgiResponse:
        return AsgiResponse(b"hello", 200)

    @get
    async def metrics(scope: Any) -> AsgiResponse:
        return AsgiResponse(b"requests_total 1\n", 200)

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/echo", echo),
            ("/fs-echo", fs_echo),
            ("/search", search),
            ("/hello", hello),
            ("/files", body_size_app),
        ],
        internal_routes=[("/metrics", metrics)],
        internal_binds=internal_binds,  # None: $ANYSTREAM_INTERNAL_BINDS
        asyncapi_path="/docs",
        try_it_out=True,
        max_body_size=4096,
    )
    return app


PATHS = [
    "/metrics",
    "/echo",
    "/fs-echo",
    "/search",
    "/hello",
    "/files",
    "/files/a/b.txt",
    "/docs",
    "/docs.json",
    "/docs/try",
    "/nowhere",
    "/",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
SAFE_BYTES = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F) or b"x"
)
URL_TEXT = st.text(
    alphabet=st.sampled_from(list("abcXYZ019-._~%/?&=+;:@!$'()*, \u00e9\u4e2d")), max_size=30
)


@dataclass
class FuzzRequest:
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    chunked: bool
    internal: bool

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def _try_it_form(draw: st.DrawFn) -> bytes:
    form = {
        "channelName": draw(
            st.sampled_from(["fuzz.orders", "fuzz.orders:op", "fuzz.typed", "", "nowhere", "a b"])
        ),
        "message": {"message": draw(st.fixed_dictionaries({"id": st.integers() | st.text(max_size=3)}) | st.recursive(st.none() | st.integers() | st.text(max_size=10), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=5))},  # noqa: E501
        "options": {"sendToRealBroker": draw(st.booleans())},
    }
    if draw(st.booleans()):
        del form[draw(st.sampled_from(sorted(form)))]
    return json.dumps(form).encode()


@st.composite
def requests(draw: st.DrawFn) -> FuzzRequest:
    # Mostly routes that exist, with the methods they take: the handlers get exercised.
    method = draw(
        st.sampled_from(["GET", "POST", "GET", "POST", "HEAD"])
        | st.sampled_from(METHODS)
        | TOKEN.map(str.upper)
    )
    path = draw(
        st.sampled_from(PATHS)
        | st.sampled_from(PATHS)
        | st.sampled_from(PATHS)
        | st.builds(lambda a, b: a + b, st.sampled_from(PATHS), URL_TEXT)
    )
    if not path.startswith("/"):
        path = "/" + path
    if draw(st.sampled_from(["any", "any", "any", "try-it"])) == "try-it":
        # About a quarter: what the docs page's try-it-out form posts.
        method, path = "POST", "/docs/try"
    query = draw(st.binary(max_size=30).map(lambda b: bytes(c for c in b if 0x20 < c < 0x7F and c != ord("#"))) | URL_TEXT.map(lambda t: t.encode()))  # noqa: E501
    body_kind = draw(
        st.just("try-it")
        if path == "/docs/try" and draw(st.booleans())
        else st.sampled_from(["none", "json", "try-it", "binary", "large"])
    )
    if body_kind == "none":
        body = b""
    elif body_kind == "json":
        body = json.dumps(draw(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=10), lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4), max_leaves=10))).encode()  # noqa: E501
    elif body_kind == "try-it":
        body = _try_it_form(draw)
    elif body_kind == "binary":
        body = draw(st.binary(max_size=200))
    else:
        body = b"[" + b"1," * draw(st.integers(2000, 6000)) + b"1]"  # around the 4 KiB limit
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    headers = [(b"host", b"127.0.0.1")]
    if draw(st.booleans()):
        headers.append((b"content-type", draw(st.sampled_from([b"application/json", b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x"]) | SAFE_BYTES)))  # noqa: E501
    headers += draw(st.lists(st.tuples(TOKEN.map(str.encode), SAFE_BYTES), max_size=4))
    return FuzzRequest(
        method=method,
        path=path,
        query=query,
        headers=headers,
        chunks=chunks,
        chunked=draw(st.booleans()),
        internal=draw(st.booleans()),
    )


def check_response(request: FuzzRequest, status: int, body: bytes) -> None:
    """The invariants every answer keeps."""
    assert 200 <= status < 600 and not 300 <= status < 400, status
    assert status < 500, (status, body, request)  # the fuzz sends only client mistakes
    if request.method == "HEAD":
        assert body == b""
    if status >= 400:  # error bodies: fixed texts, never an exception
        for marker in (b"Traceback", b"Error(", b"Exception", b"File \""):
            assert marker not in body, (body, request)
