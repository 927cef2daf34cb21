"""The app ``anystream demo`` serves: a FastStream subscriber with HTTP beside it.

- ``demo.orders``: a subscriber that validates each message as an :class:`Order`
  (pydantic) and counts what it consumed;
- ``GET /stats``: those counters as JSON;
- ``GET /health``: a real NATS round trip (204 healthy, 500 not);
- ``GET /docs`` and ``/docs.json``: the AsyncAPI page and schema.

Serve it yourself with ``hypercorn --worker-class trio anystream.cli._demo_app:app``
(``NATS_URL`` picks the server, ``nats://127.0.0.1:4222`` by default).
"""

from __future__ import annotations

import os

from faststream.nats import NatsBroker
from pydantic import BaseModel, Field

from ..asgi import AsgiFastStream, AsgiResponse, JSONResponse, get, make_ping_asgi
from ..asgi.types import Scope

__all__ = ("ORDERS_SUBJECT", "Order", "app", "broker", "counters")

ORDERS_SUBJECT = "demo.orders"

broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))

#: What the subscriber consumed so far (this process only).
counters: dict[str, int | str | None] = {"orders": 0, "items": 0, "last_item": None}


class Order(BaseModel):
    id: int
    item: str
    quantity: int = Field(default=1, ge=1)


@broker.subscriber(ORDERS_SUBJECT, description="Orders to count.")
async def take_order(order: Order) -> None:
    counters["orders"] = int(counters["orders"] or 0) + 1
    counters["items"] = int(counters["items"] or 0) + order.quantity
    counters["last_item"] = order.item


@get(description="What the subscriber consumed so far.")
async def stats(scope: Scope) -> AsgiResponse:
    return JSONResponse(counters)


app = AsgiFastStream(
    broker,
    asgi_routes=[
        ("/health", make_ping_asgi(broker, timeout=5.0)),
        ("/stats", stats),
    ],
    asyncapi_path="/docs",
)
