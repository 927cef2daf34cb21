"""The seed's "Other ASGI Compatibility" example: FastAPI hosts the broker.

``broker_lifespan`` replaces ``async with broker: await broker.start()`` so the
broker also runs when FastAPI is served on trio (``hypercorn --worker-class trio``).
"""

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.nats import NatsBroker

from anystream import FastStream, broker_lifespan
from anystream.asgi import make_asyncapi_asgi, make_ping_asgi

broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))


@broker.subscriber("seed_fastapi.in")
@broker.publisher("seed_fastapi.out")
async def handle(body: str) -> str:
    return f"seed_fastapi got {body}"


@asynccontextmanager
async def start_broker(app):
    """Start the broker with the app."""
    async with broker_lifespan(broker):
        yield


app = FastAPI(lifespan=start_broker)


@app.get("/hello")
async def hello() -> dict[str, str]:
    # A FastAPI route that publishes: works on asyncio and trio alike.
    await broker.publish("from fastapi", "seed_fastapi.out")
    return {"hello": "world"}


app.mount("/health", make_ping_asgi(broker, timeout=5.0))
app.mount("/asyncapi", make_asyncapi_asgi(FastStream(broker)))
