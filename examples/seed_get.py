"""The seed's "Custom ASGI Routes" example on anystream: a ``@get`` endpoint."""

import os

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, get, make_ping_asgi

broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))


@broker.subscriber("seed_get.in")
@broker.publisher("seed_get.out")
async def handle(body: str) -> str:
    return f"seed_get got {body}"


@get
async def liveness_ping(scope):
    return AsgiResponse(b"", status_code=200)


app = AsgiFastStream(
    broker,
    asgi_routes=[("/liveness", liveness_ping)],
)
# The seed's tip: routes can be added with ``mount`` too.
app.mount("/health", make_ping_asgi(broker, timeout=5.0))
