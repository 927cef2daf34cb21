"""The seed's "FastStream Object Reuse" example on anystream: ``FastStream(...).as_asgi``."""

import os

from faststream.nats import NatsBroker

from anystream import FastStream
from anystream.asgi import AsgiResponse, get, make_ping_asgi

broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))


@broker.subscriber("seed_reuse.in")
@broker.publisher("seed_reuse.out")
async def handle(body: str) -> str:
    return f"seed_reuse got {body}"


@get
async def liveness_ping(scope):
    return AsgiResponse(b"", status_code=200)


app = FastStream(broker).as_asgi(
    asgi_routes=[
        ("/liveness", liveness_ping),
        ("/readiness", make_ping_asgi(broker, timeout=5.0)),
        ("/health", make_ping_asgi(broker, timeout=5.0)),
    ],
    asyncapi_path="/docs",
)
