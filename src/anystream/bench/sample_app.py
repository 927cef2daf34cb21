"""The apps ``anystream bench`` serves by default (one module, three flavours).

- ``app``: anystream's ``AsgiFastStream`` with a realistic subscriber (parse a
  pydantic model, touch shared state), ``/health`` (``make_ping_asgi``), a trivial
  ``/hello`` route and ``/stats`` (messages consumed so far, and messages the NATS
  client dropped because the subscription's queue was full).
- ``faststream_app``: the same on faststream's own ``faststream.asgi.AsgiFastStream``
  (the baseline; asyncio only).
- ``bare``: a bare ASGI callable with no broker, the server's own ceiling.

The broker URL comes from ``NATS_URL``; the subject is ``bench.orders``.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from faststream import asgi as faststream_asgi
from faststream.asgi import response as faststream_response
from faststream.nats import NatsBroker
from pydantic import BaseModel

from anystream.asgi import AsgiFastStream, AsgiResponse, JSONResponse, get, make_ping_asgi
from anystream.broker import stats as consume_stats

SUBJECT = "bench.orders"
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


class Order(BaseModel):
    id: int
    amount: float
    currency: str
    sku: str


def _build(responses: Any, app_class: Any, get_: Any, ping: Any, drops: Any = None) -> Any:
    broker = NatsBroker(NATS_URL, logger=None)
    totals: Counter[str] = Counter()
    consumed = 0

    @broker.subscriber(SUBJECT)
    async def on_order(order: Order) -> None:
        nonlocal consumed
        totals[order.sku] += int(order.amount * 100)
        consumed += 1

    @get_  # type: ignore[untyped-decorator]
    async def hello(scope: Any) -> Any:
        return responses.AsgiResponse(b"hello", 200)

    @get_  # type: ignore[untyped-decorator]
    async def stats(scope: Any) -> Any:
        body: dict[str, Any] = {"consumed": consumed, "skus": len(totals)}
        if drops is not None:  # messages nats-py dropped (subscription queue full)
            body["client_dropped"] = drops(broker)
        return responses.JSONResponse(body)

    return app_class(
        broker,
        logger=None,
        asgi_routes=[
            ("/health", ping(broker, timeout=5.0)),
            ("/hello", hello),
            ("/stats", stats),
        ],
    )


class _Ours:
    AsgiResponse = AsgiResponse
    JSONResponse = JSONResponse


def _client_dropped(broker: NatsBroker) -> int:
    return consume_stats(broker).slow_consumer_dropped


app = _build(_Ours, AsgiFastStream, get, make_ping_asgi, _client_dropped)
faststream_app = _build(
    faststream_response,
    faststream_asgi.AsgiFastStream,
    faststream_asgi.get,
    faststream_asgi.make_ping_asgi,
)

_HELLO_HEAD = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-length", b"5"), (b"content-type", b"text/plain")],
}
_HEALTH_HEAD = {"type": "http.response.start", "status": 204, "headers": []}


async def bare(scope: Any, receive: Any, send: Any) -> None:
    """No framework, no broker: the server's own ceiling."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/hello":
        await send(_HELLO_HEAD)
        await send({"type": "http.response.body", "body": b"hello"})
    else:
        await send(_HEALTH_HEAD)
        await send({"type": "http.response.body", "body": b""})
