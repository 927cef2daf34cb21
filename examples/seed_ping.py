"""The seed's "ASGI Routes" example on anystream: a broker health endpoint.

Run it with any of::

    hypercorn --worker-class trio examples.seed_ping:app
    hypercorn examples.seed_ping:app
    uvicorn examples.seed_ping:app
"""

import os

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, make_ping_asgi

broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))


@broker.subscriber("seed_ping.in")
@broker.publisher("seed_ping.out")
async def handle(body: str) -> str:
    return f"seed_ping got {body}"


app = AsgiFastStream(
    broker,
    asgi_routes=[
        ("/health", make_ping_asgi(broker, timeout=5.0)),
    ],
)
