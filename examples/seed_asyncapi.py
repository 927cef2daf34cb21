"""The seed's "AsyncAPI Documentation" example on anystream: ``/docs`` and ``/docs.json``."""

import os

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, make_ping_asgi

broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))


@broker.subscriber("seed_asyncapi.in")
@broker.publisher("seed_asyncapi.out")
async def handle(body: str) -> str:
    return f"seed_asyncapi got {body}"


app = AsgiFastStream(
    broker,
    asgi_routes=[("/health", make_ping_asgi(broker, timeout=5.0))],
    asyncapi_path="/docs",
)
