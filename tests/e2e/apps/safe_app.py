"""An app with anystream's safe defaults, as a new user writes it (the seed's docs example).

Configured by environment variables:

- ``NATS_URL``: the broker.
- ``TRY_IT_OUT``: unset (the default: off), ``dry`` (``try_it_out=True``) or ``real``
  (``try_it_out=True, try_it_out_real_broker=True``).
- ``ANYSTREAM_INTERNAL_BINDS``: read by ``AsgiFastStream`` itself.

Routes: ``/echo`` (anystream ``@post``, reads JSON), ``/fs-echo`` (faststream's own
``@post``), ``/boom`` (raises with a secret in the message), ``/hello``; internal:
``/health`` and ``/metrics``. ``safe.orders`` replies ``{"accepted": body}`` and
publishes what it handled on ``safe.handled``.
"""

from __future__ import annotations

import os
from typing import Any

from faststream.asgi import post as faststream_post
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, JSONResponse, Request, get, post

SECRET = "s3cr3t-detail-in-the-exception"

broker = NatsBroker(os.environ["NATS_URL"], connect_timeout=2)


@broker.subscriber("safe.orders")
async def on_order(body: dict[str, Any]) -> dict[str, Any]:
    await broker.publish(body, "safe.handled")
    return {"accepted": body}


@post
async def echo(request: Request) -> AsgiResponse:
    return JSONResponse(await request.json(), 200)


@faststream_post
async def fs_echo(request: Request) -> AsgiResponse:
    return JSONResponse(await request.json(), 200)


@get
async def boom(scope: Any) -> AsgiResponse:
    raise RuntimeError(f"database password is {SECRET}")


@get
async def hello(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"hello", 200)


@get
async def health(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"", 204)


@get
async def metrics(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"requests_total 1\n", 200, {"content-type": "text/plain"})


mode = os.environ.get("TRY_IT_OUT", "")
app = AsgiFastStream(
    broker,
    asgi_routes=[("/echo", echo), ("/fs-echo", fs_echo), ("/boom", boom), ("/hello", hello)],
    internal_routes=[("/health", health), ("/metrics", metrics)],
    asyncapi_path="/docs",
    try_it_out=mode in ("dry", "real"),
    try_it_out_real_broker=mode == "real",
)
